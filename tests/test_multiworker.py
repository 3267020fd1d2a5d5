"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1 == one process.

Each worker is a separate ``kerasgan train --strategy multi-worker`` process
with its own ``TF_CONFIG``; they talk over gRPC on free local ports. Three steps
on a global batch of 16 (8 per worker) must give the weights one process gets on
the same global batch and seed, for a source read from files (a PNG folder,
through the CLI) and for in-memory arrays (through the Python API).
"""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import kerasgan  # noqa: F401  (registers the families for load_model)

MODEL = ["--width", "4", "--latent-dim", "8", "--batch-size", "16", "--epochs", "1",
         "--quiet", "--seed", "3"]
TIMEOUT = 300

IN_MEMORY = r"""
import sys
import numpy as np
from kerasgan import run as runs
strategy = runs.make_strategy(sys.argv[1])   # first, before TensorFlow runs anything
from kerasgan.data import ImageSource
images = np.random.RandomState(0).randint(0, 256, (48, 8, 8, 1)).astype(np.uint8)
labels = np.arange(48) % 3
config = {"family": "cgan", "model": {"image_shape": [8, 8, 1], "num_classes": 3,
          "latent_dim": 8, "width": 4, "seed": 3},
          "data": {"source": "arrays"}, "batch_size": 16, "epochs": 1, "seed": 3,
          "jit_compile": False}
runs.train(config, sys.argv[2], ImageSource(images, labels), strategy=strategy, verbose=0,
           strategy_name=sys.argv[1])
"""


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _env(tf_config=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def _run_workers(command, n=2):
    """Runs ``command("multi-worker")`` as ``n`` workers of one cluster on free
    local ports and waits for them."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(n)]}
    procs = [
        subprocess.Popen(command("multi-worker"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True,
                         env=_env({"cluster": cluster, "task": {"type": "worker", "index": i}}))
        for i in range(n)
    ]
    try:
        results = [p.communicate(timeout=TIMEOUT) + (p.returncode,) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for _, stderr, rc in results:
        assert rc == 0, stderr[-4000:]


def _run_single(command):
    proc = subprocess.run(command("one-device"), capture_output=True, text=True, timeout=TIMEOUT,
                          env=_env())
    assert proc.returncode == 0, proc.stderr[-4000:]


def _weights(path, steps=3):
    gan = keras.saving.load_model(path)
    assert int(gan.g_optimizer.iterations.numpy()) == steps
    return {v.path: v.numpy() for v in gan.weights + gan.g_optimizer.variables
            + gan.d_optimizer.variables}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5,
                                   atol=1e-5 * max(1.0, np.abs(a[key]).max()), err_msg=key)


def _cli(strategy, out, data):
    ring = ["--collective", "ring"] if strategy == "multi-worker" else []
    return [sys.executable, "-m", "kerasgan.cli", "train", "dcgan", "--data", str(data), *MODEL,
            "--strategy", strategy, *ring, "--out", str(out)]


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pngs")
    rng = np.random.RandomState(1)
    for i in range(48):
        Image.fromarray(rng.randint(0, 256, (8, 8), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


@pytest.mark.slow
def test_two_workers_equal_one_process_on_files(tmp_path, png_folder):
    single, out = tmp_path / "single", tmp_path / "multi"
    _run_single(lambda strategy: _cli(strategy, single, png_folder))
    _run_workers(lambda strategy: _cli(strategy, out, png_folder))

    reference = _weights(single / "gan.keras")
    _assert_same(reference, _weights(out / "gan.keras"))               # the chief's
    _assert_same(reference, _weights(out / "worker-1" / "gan.keras"))  # the other worker's
    record = json.loads((out / "run.json").read_text())
    assert record["replicas"] == 2 and record["strategy"] == "multi-worker"
    # the chief alone writes the samples and the history; every worker backs up
    assert (out / "samples" / "epoch_0001.png").exists() and (out / "history.csv").exists()
    assert not (out / "worker-1" / "samples").exists()
    assert (out / "worker-1" / "backup").is_dir() and (out / "backup").is_dir()


@pytest.mark.slow
def test_two_workers_equal_one_process_on_in_memory_arrays(tmp_path):
    single, out = tmp_path / "single", tmp_path / "multi"
    _run_single(lambda strategy: [sys.executable, "-c", IN_MEMORY, strategy, str(single)])
    _run_workers(lambda strategy: [sys.executable, "-c", IN_MEMORY, strategy, str(out)])
    reference = _weights(single / "gan.keras")
    _assert_same(reference, _weights(out / "gan.keras"))
    _assert_same(reference, _weights(out / "worker-1" / "gan.keras"))


def test_multi_worker_without_tf_config_is_a_clear_error(tmp_path):
    proc = subprocess.run(_cli("multi-worker", tmp_path / "run", "mnist-10k"), capture_output=True,
                          text=True, timeout=TIMEOUT, env=_env())
    assert proc.returncode == 2
    assert "--strategy multi-worker needs TF_CONFIG" in proc.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_workers_resume_from_the_newest_backup_they_all_have(tmp_path, png_folder):
    from kerasgan import run as runs

    # the reference is an uninterrupted two-worker run: over 6 steps, the float
    # differences between one process and two (1e-9 after 3 steps) grow to 1e-4
    straight, out = tmp_path / "straight", tmp_path / "multi"
    every_step = ["--backup-every", "1"]
    _run_workers(lambda strategy: _cli(strategy, straight, png_folder) + ["--epochs", "2"])
    _run_workers(lambda strategy: _cli(strategy, out, png_folder) + every_step)
    assert [s for s, _ in runs.list_backups(out / "backup")] == [3, 2]
    assert [s for s, _ in runs.list_backups(out / "worker-1" / "backup")] == [3, 2]
    # the chief lost its newest backup (killed between the two workers' writes, say)
    os.remove(runs.backup_path(out / "backup", 3))
    # two epochs now: both workers resume from step 2, the newest one they both have
    _run_workers(lambda strategy: _cli(strategy, out, png_folder) + every_step + ["--epochs", "2"])
    reference = _weights(straight / "gan.keras", steps=6)
    _assert_same(reference, _weights(out / "gan.keras", steps=6))
    _assert_same(reference, _weights(out / "worker-1" / "gan.keras", steps=6))
