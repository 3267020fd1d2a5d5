"""Preemption-safe training: SIGKILL mid-epoch or mid-write, run the same command
again, end with the weights of an uninterrupted run.

The kills are real: a child process running ``kerasgan train`` sends itself
SIGKILL (``tests/faults.py``), which nothing can catch or clean up after.
"""

import csv
import json
import os
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest

import kerasgan  # noqa: F401  (registers the families for load_model)
from kerasgan import run as runs
from kerasgan.data import DataError, ImageSource

HERE = os.path.dirname(os.path.abspath(__file__))
# mnist-10k at batch 512: 19 steps per epoch, 38 in all; with ADA (p adapting
# fast), so that every resume below must also restore ADA's p and its accumulator
ARGS = ["train", "dcgan", "--epochs", "2", "--width", "4", "--latent-dim", "8",
        "--batch-size", "512", "--ema-decay", "0.9", "--flip", "--backup-every", "4", "--quiet",
        "--augment", "ada:target=0.1,speed=20000,interval=1"]
STEPS_PER_EPOCH = 19


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")


def kerasgan_cli(out, *extra):
    """``kerasgan train ...`` in a fresh process (as a user would start it again)."""
    return subprocess.run([sys.executable, "-m", "kerasgan.cli", *ARGS, "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=600, env=_env())


def with_fault(fault, n, out):
    return subprocess.run([sys.executable, os.path.join(HERE, "faults.py"), fault, str(n), "--",
                           *ARGS, "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=_env())


def final_weights(run_dir):
    gan = keras.saving.load_model(os.path.join(run_dir, "gan.keras"))
    return {v.path: v.numpy() for v in gan.weights + gan.g_optimizer.variables
            + gan.d_optimizer.variables}


@pytest.mark.slow
def test_the_reference_run_moved_adas_p(reference):
    """The resume tests compare ADA's p too: it must have moved (and be logged)."""
    weights = final_weights(reference)
    p = [v for k, v in weights.items() if k.endswith("aug_p")]
    stats = [k for k in weights if k.endswith("aug_stats")]
    assert len(p) == 1 and 0 < float(p[0]) <= 1 and len(stats) == 1
    rows = list(csv.DictReader(open(os.path.join(reference, "history.csv"))))
    assert float(rows[-1]["aug_p"]) == pytest.approx(float(p[0]), abs=1e-7)
    assert -1 <= float(rows[-1]["r_t"]) <= 1


def assert_same_run(reference, resumed):
    a, b = final_weights(reference), final_weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5,
                                   atol=1e-6 * max(1.0, np.abs(a[key]).max()), err_msg=key)
    rows = [list(csv.DictReader(open(os.path.join(d, "history.csv")))) for d in (reference, resumed)]
    assert [r["epoch"] for r in rows[0]] == [r["epoch"] for r in rows[1]] == ["0", "1"]
    for r0, r1 in zip(*rows):
        assert r0.keys() == r1.keys()
        for key in r0:  # the resumed epoch's means cover the whole epoch
            if r0[key] == "NA":  # CSVLogger's empty validation columns
                assert r1[key] == "NA"
                continue
            np.testing.assert_allclose(float(r0[key]), float(r1[key]), rtol=1e-5, err_msg=key)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    proc = kerasgan_cli(out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.slow
def test_sigkill_mid_epoch_resumes_to_the_same_weights(reference, tmp_path):
    out = tmp_path / "run"
    killed = with_fault("kill-at-step", 27, out)  # step 8 of epoch 2
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not (out / "gan.keras").exists()
    # the last backup is step 24 (every 4 steps), 5 steps into epoch 2
    assert [s for s, _ in runs.list_backups(out / "backup")] == [24, 20]
    state = runs.read_backup_state(runs.backup_path(out / "backup", 24))
    assert (state["epoch"], state["step_in_epoch"]) == (1, 24 - STEPS_PER_EPOCH)

    again = kerasgan_cli(out)  # the same command
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming" in again.stderr and "from step 5 of epoch 2 (step 24)" in again.stderr
    assert_same_run(reference, out)
    assert [s for s, _ in runs.list_backups(out / "backup")][0] == 2 * STEPS_PER_EPOCH


@pytest.mark.slow
def test_kill_during_a_backup_write_keeps_the_last_good_backup(reference, tmp_path):
    out = tmp_path / "run"
    # backups at steps 4, 8, 12, 16, 19 (epoch end), 20, 24: the 7th write is killed
    killed = with_fault("kill-in-backup", 7, out)
    assert killed.returncode == -9, killed.stderr[-3000:]
    leftovers = [f for f in os.listdir(out / "backup") if f.startswith(".tmp-")]
    assert len(leftovers) == 1  # the half-written file, under its temporary name only
    with pytest.raises(OSError):
        h5py.File(out / "backup" / leftovers[0], "r")
    assert [s for s, _ in runs.list_backups(out / "backup")] == [20, 19]
    assert runs.read_backup_state(runs.backup_path(out / "backup", 20))["step"] == 20

    again = kerasgan_cli(out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "from step 1 of epoch 2 (step 20)" in again.stderr
    assert not [f for f in os.listdir(out / "backup") if f.startswith(".tmp-")]
    assert_same_run(reference, out)


@pytest.mark.slow
def test_a_damaged_newest_backup_falls_back_to_the_one_before(reference, tmp_path):
    out = tmp_path / "run"
    assert with_fault("kill-at-step", 27, out).returncode == -9
    newest = runs.backup_path(out / "backup", 24)
    with open(newest, "r+b") as f:  # a disk error: the file is cut short
        f.truncate(os.path.getsize(newest) // 2)
    again = kerasgan_cli(out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "skipping backup" in again.stderr and "step-000000024" in again.stderr
    assert "from step 1 of epoch 2 (step 20)" in again.stderr
    assert_same_run(reference, out)


@pytest.mark.slow
def test_sigterm_backs_up_the_current_step_and_stops(reference, tmp_path):
    out = tmp_path / "run"
    stopped = with_fault("sigterm-at-step", 23, out)  # not a backup step (every 4)
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert "stopped by SIGTERM at step 23, after writing a backup" in stopped.stderr
    assert [s for s, _ in runs.list_backups(out / "backup")] == [23, 20]
    again = kerasgan_cli(out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "from step 4 of epoch 2 (step 23)" in again.stderr
    assert_same_run(reference, out)


# ------------------------------------------------------------ in-process units
def _tiny_gan():
    gan = kerasgan.models.get("dcgan", **kerasgan.models.get_class("dcgan").tiny_config)
    gan.compile()
    return gan


def test_backups_keep_the_newest_two_and_carry_their_progress(tmp_path, images_8x8):
    gan = _tiny_gan()
    for step in range(1, 4):
        gan.fit(images_8x8[:16], batch_size=16, epochs=1, verbose=0)
        runs.write_backup(gan, tmp_path, epoch=0, step_in_epoch=step, steps_per_epoch=10)
    assert [s for s, _ in runs.list_backups(tmp_path)] == [3, 2]
    state = runs.read_backup_state(runs.backup_path(tmp_path, 3))
    assert state["step"] == 3 and state["trackers"]["d_loss"][1] == 16.0  # total, count
    other = _tiny_gan()
    assert runs.load_backup(other, str(tmp_path))["step"] == 3
    for a, b in zip(gan.weights, other.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(other.g_optimizer.iterations.numpy()) == 3
    np.testing.assert_allclose(other.d_loss_tracker.result().numpy(),
                               gan.d_loss_tracker.result().numpy())


def test_no_loadable_backup_is_a_clear_error(tmp_path):
    (tmp_path / "step-000000005.weights.h5").write_bytes(b"garbage")
    with pytest.raises(runs.RunError, match="no backup in .* can be loaded"):
        runs.load_backup(_tiny_gan(), str(tmp_path))


def test_dataset_start_step_skips_batches_of_the_first_epoch():
    images = np.arange(10 * 2 * 2, dtype=np.uint8).reshape(10, 2, 2, 1)
    src = ImageSource(images)
    full = [b.numpy() for b in src.dataset(3, seed=4, repeat=True, start_epoch=2).take(6)]
    late = [b.numpy() for b in src.dataset(3, seed=4, repeat=True, start_epoch=2,
                                           start_step=2).take(4)]
    for a, b in zip(full[2:], late):
        np.testing.assert_array_equal(a, b)
    one = src.dataset(3, seed=4, start_step=1)
    assert one.cardinality().numpy() == 2
    with pytest.raises(DataError, match="start_step 3 is not inside an epoch of 3 batches"):
        src.dataset(3, start_step=3)


# ------------------------------------------------------- bad run-folder input
def _cli_error(capsys, *args):
    from kerasgan import cli

    keras.backend.clear_session()
    code = cli.main([str(a) for a in args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("kerasgan: error: "), err
    return err[0]


TINY_TRAIN = ["train", "dcgan", "--epochs", "1", "--width", "4", "--latent-dim", "8",
              "--batch-size", "512", "--quiet"]


def test_a_corrupt_run_json_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text('{"family": "dcgan", ')  # cut short
    err = _cli_error(capsys, *TINY_TRAIN, "--out", out)
    assert "run.json is not valid JSON" in err and "repair or delete it" in err
    assert not (out / "backup").exists()


def test_a_backup_of_another_configuration_is_refused(tmp_path):
    small = _tiny_gan()
    runs.write_backup(small, tmp_path, 0, 0, 10)
    wider = kerasgan.models.get("dcgan", **dict(kerasgan.models.get_class("dcgan").tiny_config,
                                                width=8))
    wider.compile()
    before = [w.numpy().copy() for w in wider.weights]
    with pytest.raises(runs.RunError, match="no backup in .* can be loaded"):
        runs.load_backup(wider, str(tmp_path))
    for a, b in zip(before, wider.weights):  # nothing was half-loaded
        np.testing.assert_array_equal(a, b.numpy())


def test_sampling_a_run_without_a_backup_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text('{"family": "dcgan"}')
    err = _cli_error(capsys, "sample", out, "--out", tmp_path / "g.png")
    assert "has no trained state yet" in err
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("tf_config, expected", [
    ("not json", "TF_CONFIG is not a valid cluster description"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "TF_CONFIG is not a valid cluster description"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}',
     "is not in its cluster"),
])
def test_bad_tf_config_is_a_clear_error(tmp_path, capsys, monkeypatch, tf_config, expected):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    err = _cli_error(capsys, *TINY_TRAIN, "--strategy", "multi-worker", "--out", tmp_path / "r")
    assert expected in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, expected", [
    (["--backup-every", "-1"], "--backup-every must be ≥ 0"),
    (["--collective", "ring"], "--collective applies to --strategy multi-worker only"),
])
def test_bad_backup_and_strategy_options(tmp_path, capsys, args, expected):
    err = _cli_error(capsys, *TINY_TRAIN, *args, "--out", tmp_path / "r")
    assert expected in err
    assert not (tmp_path / "r").exists()


def test_a_batch_that_does_not_split_over_the_replicas(tmp_path, mirrored_strategy, capsys):
    config = {"family": "dcgan", "model": dict(kerasgan.models.get_class("dcgan").tiny_config),
              "data": {"source": "arrays"}, "batch_size": 15, "epochs": 1, "seed": 0,
              "jit_compile": False}
    src = ImageSource(np.zeros((30, 8, 8, 1), np.uint8))
    with pytest.raises(runs.RunError, match="batch size 15 does not split over 2 replicas"):
        runs.train(config, str(tmp_path / "r"), src, strategy=mirrored_strategy)
    assert not (tmp_path / "r").exists()


def test_precision_is_part_of_the_run(tmp_path, capsys):
    from kerasgan import cli

    out = tmp_path / "run"
    keras.backend.clear_session()
    assert cli.main([*map(str, TINY_TRAIN), "--precision", "mixed_bfloat16", "--out", str(out)]) == 0
    assert json.loads((out / "run.json").read_text())["precision"] == "mixed_bfloat16"
    gan = keras.saving.load_model(out / "gan.keras")
    assert gan.generator.dtype_policy.name == "mixed_bfloat16"
    assert all(v.dtype == "float32" for v in gan.weights)
    err = _cli_error(capsys, *TINY_TRAIN, "--precision", "float32", "--epochs", "2", "--out", out)
    assert "other settings (precision: 'mixed_bfloat16' there, 'float32' now)" in err
