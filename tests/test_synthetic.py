"""Synthetic datasets (export/synthetic.py, `generate.py --dataset`, `kerasgan generate`):
the three formats read back, the seed rule, resume after an interruption, bounded
memory, the manifest, and bad input refused before any work."""

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

from kerasgan import cli, export, models
from kerasgan.kit import synthetic
from kerasgan.kit.onnx_generator import OnnxGenerator, to_uint8

from conftest import REPO

KIT = os.path.join(REPO, "export")
NO_TF = os.path.join(REPO, "tests", "no_tf.py")


def toy_block(b, batch=16, shape=(8, 8, 1), classes=3):
    """A block from the seed rule's shape: rows of block b drawn from [7, b]."""
    rng = np.random.default_rng([7, b])
    return {"images": rng.integers(0, 256, (batch, *shape)).astype("uint8"),
            "labels": (b * batch + np.arange(batch)) % classes}


def write_toy(out, n, fmt="npz", make_block=toy_block, **kw):
    kw.setdefault("batch", 16)
    kw.setdefault("shard_size", 32)
    return synthetic.write_dataset(out, n, make_block, fmt=fmt, identity={"seed": 7},
                                   sample_shape=(8, 8, 1), num_classes=3, progress=False, **kw)


def expected_rows(n, batch=16):
    blocks = [toy_block(b, batch) for b in range(-(-n // batch))]
    return (np.concatenate([b["images"] for b in blocks])[:n],
            np.concatenate([b["labels"] for b in blocks])[:n])


def read_back(out, fmt):
    """(images, labels) of a dataset, in index order, read the way its users read it."""
    import tensorflow as tf

    if fmt == "npz":
        shards = [np.load(os.path.join(out, f)) for f in sorted(os.listdir(out))
                  if f.endswith(".npz")]
        index = np.concatenate([s["index"] for s in shards])
        assert np.array_equal(index, np.arange(len(index)))
        return (np.concatenate([s["images"] for s in shards]),
                np.concatenate([s["labels"] for s in shards]))
    if fmt == "tfrecord":
        spec = {k: tf.io.FixedLenFeature([], tf.string if k == "image" else tf.int64)
                for k in ("image", "label", "index", "height", "width", "channels")}
        files = sorted(tf.io.gfile.glob(os.path.join(out, "*.tfrecord")))
        recs = [tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(files)]
        assert [int(r["index"]) for r in recs] == list(range(len(recs)))
        sizes = {(int(r["height"]), int(r["width"]), int(r["channels"])) for r in recs}
        assert sizes == {(8, 8, 1)}
        return (np.stack([tf.io.decode_png(r["image"]).numpy() for r in recs]),
                np.array([int(r["label"]) for r in recs]))
    import keras

    ds = keras.utils.image_dataset_from_directory(out, image_size=(8, 8), color_mode="grayscale",
                                                  shuffle=False, batch_size=1000)
    x, y = next(iter(ds))
    # the loader orders files by class then name: put them back in index order
    names = [os.path.basename(p) for p in ds.file_paths]
    order = np.argsort([int(n.split(".")[0]) for n in names])
    return x.numpy().astype("uint8")[order], y.numpy()[order]


@pytest.mark.parametrize("fmt", synthetic.FORMATS)
def test_every_format_reads_back_the_samples_of_the_seed_rule(tmp_path, fmt):
    out = tmp_path / fmt
    manifest = write_toy(out, 100, fmt)
    images, labels = read_back(out, fmt)
    want_images, want_labels = expected_rows(100)
    assert np.array_equal(images, want_images) and np.array_equal(labels, want_labels)
    assert manifest["complete"] and manifest["count"] == 100
    assert manifest["classes"] == [34, 33, 33]
    assert [s["count"] for s in manifest["shards"]] == [32, 32, 32, 4]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    if fmt != "folder":  # each shard's sha256 is its file's
        import hashlib

        for s in manifest["shards"]:
            assert hashlib.sha256((out / s["name"]).read_bytes()).hexdigest() == s["sha256"]
    assert not [f for _, _, fs in os.walk(out) for f in fs if f.startswith(".tmp-")]


def test_kerasgan_data_reads_a_folder_dataset_with_its_classes(tmp_path):
    from kerasgan.data import open_source

    write_toy(tmp_path / "ds", 60, "folder")
    source = open_source(str(tmp_path / "ds"))
    x, y = source.images, source.labels
    assert x.shape[0] == 60 and np.bincount(y).tolist() == [20, 20, 20]


def test_sample_i_does_not_depend_on_n_or_on_the_number_of_runs(tmp_path):
    """Written in one run of 100, or as 37 then 100 (the short last shard of the
    first run written again), or interrupted twice: the same files."""
    one = write_toy(tmp_path / "one", 100)
    write_toy(tmp_path / "grown", 37)
    grown = write_toy(tmp_path / "grown", 100)
    assert [s["sha256"] for s in grown["shards"]] == [s["sha256"] for s in one["shards"]]

    calls = {"n": 0}

    def flaky(b, stop_at):
        calls["n"] += 1
        if calls["n"] == stop_at:
            raise KeyboardInterrupt
        return toy_block(b)

    for stop_at in (3, 4):  # two interruptions, then a clean finish
        calls["n"] = 0
        with pytest.raises(synthetic.Interrupted, match="run the same command again"):
            write_toy(tmp_path / "three", 100, make_block=lambda b: flaky(b, stop_at))
        kept = json.loads((tmp_path / "three" / "manifest.json").read_text())
        assert not kept["complete"] and kept["count"] % 32 == 0
        assert not [f for f in os.listdir(tmp_path / "three") if f.startswith(".tmp-")]
    three = write_toy(tmp_path / "three", 100)
    assert [s["sha256"] for s in three["shards"]] == [s["sha256"] for s in one["shards"]]


def test_npz_shards_stream_inputs_beside_images(tmp_path):
    """A translator's npz shard: images, inputs and index in order, nothing left over."""
    def block(b):
        rng = np.random.default_rng(b)
        return {"images": rng.integers(0, 256, (16, 4, 4, 3)).astype("uint8"),
                "inputs": rng.integers(0, 256, (16, 4, 4, 1)).astype("uint8")}

    synthetic.write_dataset(tmp_path, 70, block, fmt="npz", batch=16, shard_size=32,
                            sample_shape=(4, 4, 3), input_shape=(4, 4, 1), progress=False)
    assert sorted(os.listdir(tmp_path)) == ["manifest.json"] + [f"shard-0000{i}.npz"
                                                                for i in range(3)]
    shard = np.load(tmp_path / "shard-00002.npz")
    assert sorted(shard.files) == ["images", "index", "inputs"]
    assert shard["index"].tolist() == list(range(64, 70))
    assert np.array_equal(shard["images"], block(4)["images"][:6])
    assert np.array_equal(shard["inputs"], block(4)["inputs"][:6])


def test_memory_stays_bounded_whatever_n(tmp_path):
    """Peak Python-tracked memory (numpy included) of writing 64 shards is that of
    writing 4, and below a few blocks: shards stream to disk, whatever n."""
    def block(b):
        return {"images": np.full((64, 32, 32, 3), b % 256, "uint8")}

    peaks = []
    for n in (1024, 16384):
        tracemalloc.start()
        synthetic.write_dataset(tmp_path / str(n), n, block, fmt="npz", batch=64,
                                shard_size=256, sample_shape=(32, 32, 3), progress=False)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0], peaks   # 16x the samples, not 16x the memory
    assert peaks[1] < 16 * 64 * 32 * 32 * 3, peaks  # a few blocks and their copies, not n


def test_bad_requests_are_refused_before_any_work(tmp_path):
    for n in (0, -5, 2.5, True):
        with pytest.raises(synthetic.DatasetError, match="n must be a positive integer"):
            write_toy(tmp_path / "bad", n)
    with pytest.raises(synthetic.DatasetError, match="multiple of batch"):
        write_toy(tmp_path / "bad", 10, shard_size=20)
    with pytest.raises(synthetic.DatasetError, match="unknown format"):
        write_toy(tmp_path / "bad", 10, fmt="zip")
    with pytest.raises(synthetic.DatasetError,
                       match=r"needs about .* a sample \(measured on 16 npz samples\) but .* "
                             r"has 1.0 MB free: lower n"):
        write_toy(tmp_path / "bad", 10**9, free_bytes=10**6)
    assert not (tmp_path / "bad").exists()  # nothing written

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(synthetic.DatasetError, match="not empty and holds no manifest.json"):
        write_toy(tmp_path / "other", 10)
    assert os.listdir(tmp_path / "other") == ["notes.txt"]

    write_toy(tmp_path / "ds", 64)
    with pytest.raises(synthetic.DatasetError, match="written with seed=7, not 8"):
        synthetic.write_dataset(tmp_path / "ds", 64, toy_block, fmt="npz", batch=16,
                                shard_size=32, identity={"seed": 8}, sample_shape=(8, 8, 1),
                                num_classes=3, progress=False)
    with pytest.raises(synthetic.DatasetError, match="written with batch=16, not 32"):
        write_toy(tmp_path / "ds", 64, batch=32, shard_size=32)
    with pytest.raises(synthetic.DatasetError, match="already holds 64 samples"):
        write_toy(tmp_path / "ds", 40)
    shard = tmp_path / "ds" / "shard-00001.npz"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(synthetic.DatasetError, match="shard shard-00001.npz is missing or altered"):
        write_toy(tmp_path / "ds", 96)


def test_tfrecord_framing_matches_tensorflow():
    """The CRC-32C and the record framing against TensorFlow's own writer."""
    import tensorflow as tf

    assert synthetic.crc32c(b"123456789") == 0xE3069283  # the standard check value
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"kg-{os.getpid()}.tfrecord")
    payload = synthetic.tf_example({"image": b"\x89PNG...", "index": 300, "label": 7})
    with tf.io.TFRecordWriter(path) as w:
        w.write(payload)
    try:
        with open(path, "rb") as f:
            assert f.read() == synthetic.tfrecord_frame(payload)
    finally:
        os.remove(path)
    parsed = tf.io.parse_single_example(payload, {
        "image": tf.io.FixedLenFeature([], tf.string), "index": tf.io.FixedLenFeature([], tf.int64),
        "label": tf.io.FixedLenFeature([], tf.int64)})
    assert parsed["image"].numpy() == b"\x89PNG..." and int(parsed["index"]) == 300


# ------------------------------------------------------------ with real generators
@pytest.fixture(scope="module")
def cgan_model(tmp_path_factory):
    """A tiny class-conditional GAN saved as .keras and exported to ONNX."""
    import keras

    keras.backend.clear_session()
    root = tmp_path_factory.mktemp("synthetic")
    gan = models.CGAN(image_shape=(8, 8, 1), num_classes=4, latent_dim=6, width=4,
                      embed_dim=3, seed=0)
    rng = np.random.default_rng(0)
    for w in gan.generator.weights:  # away from the initial weights, so images vary
        w.assign(w.numpy() + rng.normal(0, 0.2, w.shape).astype("float32"))
    gan.save(root / "cgan.keras")
    export.export_onnx(gan, root / "cgan.onnx")
    return {"root": root, "gan": gan, "keras": root / "cgan.keras", "onnx": root / "cgan.onnx"}


def test_kerasgan_generate_writes_the_generators_images_with_balanced_labels(cgan_model, tmp_path,
                                                                            capsys):
    out = tmp_path / "ds"
    assert cli.main(["generate", str(cgan_model["keras"]), "--n", "150", "--out", str(out),
                     "--format", "npz", "--seed", "5", "--batch", "32", "--quiet"]) == 0
    assert "150 cgan samples" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params"]["model"]["weights_sha256"] == \
        export.weights_sha256(cgan_model["gan"].sampling_generator)
    assert manifest["classes"] == [38, 38, 37, 37] and manifest["params"]["labels"] == "balanced"
    (shard,) = [np.load(out / s["name"]) for s in manifest["shards"]]
    assert np.array_equal(shard["labels"], np.arange(150) % 4)
    # row i is block i // 32 of generate(32, seed=[5, b], labels=...)
    for b in (0, 4):
        want = cgan_model["gan"].generate(32, seed=[5, b],
                                          labels=(b * 32 + np.arange(32)) % 4)
        got = shard["images"][b * 32:(b + 1) * 32]
        assert np.array_equal(got, to_uint8(want)[:len(got)])
    assert shard["images"].std() > 5  # real, varied pictures


def test_the_kit_writes_the_same_dataset_without_tensorflow(cgan_model, tmp_path):
    """generate.py --dataset in a Python that cannot import TensorFlow: the images of
    the same seed rule (ONNX Runtime vs Keras: equal up to rare +-1 rounding)."""
    out = tmp_path / "kit"
    result = subprocess.run(
        [sys.executable, NO_TF, os.path.join(KIT, "generate.py"), str(cgan_model["onnx"]),
         "--dataset", str(out), "--n", "100", "--seed", "5", "--batch", "32", "--format",
         "tfrecord", "--label", "2"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "100 samples" in result.stderr.splitlines()[-1] or "100" in result.stdout
    images, labels = read_back_tfrecord(out)
    assert (labels == 2).all()
    gen = OnnxGenerator(str(cgan_model["onnx"]))
    want = np.concatenate([gen.generate(32, seed=[5, b], labels=np.full(32, 2, "int32"))
                           for b in range(4)])[:100]
    assert np.array_equal(images, to_uint8(want))
    keras_want = np.concatenate([cgan_model["gan"].generate(32, seed=[5, b], labels=2)
                                 for b in range(4)])[:100]
    diff = np.abs(images.astype(int) - to_uint8(keras_want))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.005


def read_back_tfrecord(out):
    import tensorflow as tf

    spec = {"image": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64)}
    files = sorted(tf.io.gfile.glob(os.path.join(out, "*.tfrecord")))
    recs = [tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(files)]
    return (np.stack([tf.io.decode_png(r["image"]).numpy() for r in recs]),
            np.array([int(r["label"]) for r in recs]))


@pytest.mark.parametrize("args,message", [
    (["--n", "1000000000", "--out", "x.png"], "more than a grid or .npy holds in memory"),
    (["--dataset", "{tmp}/d", "--n", "0"], "--n must be at least 1, got 0"),
    (["--dataset", "{tmp}/d", "--n", "-3"], "--n must be at least 1, got -3"),
    (["--dataset", "{tmp}/d", "--n", "1000000000000"], "needs about"),
    (["--dataset", "{tmp}/d", "--n", "10", "--label", "9"], "--label must be in [0, 4)"),
    (["--dataset", "{tmp}/d", "--n", "10", "--shard-size", "100"], "multiple of batch (64)"),
])
def test_the_kit_refuses_bad_dataset_requests_in_one_line(cgan_model, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = subprocess.run([sys.executable, NO_TF, os.path.join(KIT, "generate.py"),
                             str(cgan_model["onnx"]), *args], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("generate.py: error:") and message in last, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_a_killed_writer_resumes_to_the_same_files(cgan_model, tmp_path):
    """SIGKILL mid-run (no clean-up at all), then the same command: the files of an
    uninterrupted run, and no temporary files left (the kit's generate.py: the
    writer kerasgan generate runs too, without TensorFlow's start-up)."""
    base = [sys.executable, NO_TF, os.path.join(KIT, "generate.py"), str(cgan_model["onnx"]),
            "--n", "12000", "--format", "folder", "--batch", "64", "--shard-size", "1024",
            "--seed", "1", "--quiet"]
    subprocess.run(base + ["--dataset", str(tmp_path / "once")], check=True,
                   capture_output=True, timeout=600)
    victim = tmp_path / "killed"
    proc = subprocess.Popen(base + ["--dataset", str(victim)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        manifest = victim / "manifest.json"
        if manifest.exists() and json.loads(manifest.read_text())["count"] >= 2048:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = json.loads((victim / "manifest.json").read_text())
    assert 0 < partial["count"] < 12000 and not partial["complete"]
    subprocess.run(base + ["--dataset", str(victim), "--verify"], check=True,
                   capture_output=True, timeout=600)
    once = json.loads((tmp_path / "once" / "manifest.json").read_text())
    again = json.loads((victim / "manifest.json").read_text())
    assert again["complete"] and again["count"] == 12000
    assert [s["sha256"] for s in again["shards"]] == [s["sha256"] for s in once["shards"]]
    assert not [f for _, _, fs in os.walk(victim) for f in fs if f.startswith(".tmp-")]


def test_a_translators_dataset_keeps_each_input_beside_its_output(tmp_path, capsys):
    """kerasgan generate on a Pix2Pix run with --inputs (.npy, memory-mapped): folder
    layout inputs/ + outputs/ under the same names, outputs = translate(inputs)."""
    import keras

    keras.backend.clear_session()
    gan = models.Pix2Pix(**models.Pix2Pix.tiny_config)
    gan.save(tmp_path / "p2p.keras")
    shape = tuple(gan.image_shape)
    x = np.random.default_rng(1).integers(0, 256, (21, *shape)).astype("uint8")
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "pairs"
    assert cli.main(["generate", str(tmp_path / "p2p.keras"), "--inputs", str(tmp_path / "x.npy"),
                     "--out", str(out), "--batch", "8", "--quiet"]) == 0
    names = sorted(os.listdir(out / "outputs"))
    assert names == sorted(os.listdir(out / "inputs")) == [f"{i:09d}.png" for i in range(21)]
    from PIL import Image

    got_in = np.stack([np.asarray(Image.open(out / "inputs" / f)) for f in names])
    got_out = np.stack([np.asarray(Image.open(out / "outputs" / f)) for f in names])
    assert np.array_equal(got_in.reshape(x.shape), x)
    want = to_uint8(gan.translate(x.astype("float32") / 127.5 - 1.0))
    diff = np.abs(got_out.reshape(want.shape).astype(int) - want)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.005
    assert cli.main(["generate", str(tmp_path / "p2p.keras"), "--inputs", str(tmp_path / "x.npy"),
                     "--n", "30", "--out", str(tmp_path / "more")]) == 2
    assert "--n 30 but --inputs holds 21 images" in capsys.readouterr().err
