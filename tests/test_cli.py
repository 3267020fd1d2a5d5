"""The `kerasgan` command end to end on the bundled data, resume, and bad input."""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import kerasgan
from kerasgan import cli
from kerasgan import run as runs

TINY = ["--width", "4", "--latent-dim", "8", "--batch-size", "512", "--quiet"]


def run_cli(*args):
    keras.backend.clear_session()
    return cli.main([str(a) for a in args])


def weights_of(path):
    model = keras.saving.load_model(path)
    return [w.numpy() for w in model.weights]


def test_train_and_sample_on_bundled_data(tmp_path):
    out = tmp_path / "run"
    assert run_cli("train", "dcgan", "--epochs", "2", "--out", out, "--ema-decay", "0.9",
                   "--r1-gamma", "0.5", *TINY) == 0
    for name in ("run.json", "history.csv", "loss_curve.png", "gan.keras", "generator.keras",
                 "samples/epoch_0001.png", "samples/epoch_0002.png"):
        assert (out / name).exists(), name
    # the end-of-epoch backups of both epochs (19 steps each)
    assert [step for step, _ in runs.list_backups(out / "backup")] == [38, 19]
    config = json.loads((out / "run.json").read_text())
    assert config["family"] == "dcgan" and config["data"]["source"] == "mnist-10k"
    assert config["model"]["image_shape"] == [28, 28, 1] and config["epochs"] == 2
    assert config["versions"]["keras"] == keras.__version__
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert all(np.isfinite(float(r["d_loss"])) for r in rows)
    assert config["model"]["r1_gamma"] == 0.5  # a common option of the kind, into the model
    assert all(float(r["r1"]) > 0 for r in rows)  # and its penalty is logged
    # the generator file is the EMA generator
    generator = keras.saving.load_model(out / "generator.keras")
    gan = keras.saving.load_model(out / "gan.keras")
    for a, b in zip(generator.weights, gan.ema_generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    grid = Image.open(out / "samples/epoch_0002.png")
    assert grid.size == (8 * 30 + 2, 8 * 30 + 2)  # 8x8 grid of 28px images, 2px padding

    png = tmp_path / "grid.png"
    assert run_cli("sample", out, "--n", "16", "--seed", "0", "--out", png) == 0
    assert Image.open(png).size == (4 * 30 + 2, 4 * 30 + 2)
    first = np.asarray(Image.open(png))
    assert run_cli("sample", out, "--n", "16", "--seed", "0", "--out", png) == 0
    np.testing.assert_array_equal(first, np.asarray(Image.open(png)))  # seeded


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    assert run_cli("train", "wgan_gp", "--epochs", "2", "--out", straight, "--d-steps", "2",
                   "--flip", *TINY) == 0

    resumed = tmp_path / "resumed"
    original = runs.Backup.on_train_batch_end

    def interrupt(self, batch, logs=None):
        original(self, batch, logs)
        if int(self.model.g_optimizer.iterations.numpy()) == 19 + 5:  # mid epoch 2: Ctrl-C
            raise KeyboardInterrupt

    monkeypatch.setattr(runs.Backup, "on_train_batch_end", interrupt)
    args = ["train", "wgan_gp", "--epochs", "2", "--out", resumed, "--d-steps", "2", "--flip", *TINY]
    assert run_cli(*args) == 130  # interrupted
    assert [step for step, _ in runs.list_backups(resumed / "backup")] == [19]  # epoch 1's end
    assert not (resumed / "gan.keras").exists()
    monkeypatch.setattr(runs.Backup, "on_train_batch_end", original)
    assert run_cli(*args) == 0  # the same command resumes from the epoch-1 backup

    for a, b in zip(weights_of(straight / "gan.keras"), weights_of(resumed / "gan.keras")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    rows = list(csv.DictReader(open(resumed / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1]


def test_more_epochs_continue_a_finished_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli("train", "dcgan", "--epochs", "1", "--out", out, *TINY) == 0
    assert run_cli("train", "dcgan", "--epochs", "1", "--out", out, *TINY) == 0
    assert "nothing to train" in capsys.readouterr().err
    assert run_cli("train", "dcgan", "--epochs", "2", "--out", out, *TINY) == 0
    assert runs.latest_backup_step(out) == 2 * 19


def test_console_script_help():
    # the installed entry point (or the module) answers without TensorFlow noise on stdout
    proc = subprocess.run([sys.executable, "-m", "kerasgan.cli", "families"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert proc.stdout.split() == kerasgan.models.names()
    assert {"dcgan", "wgan_gp", "cgan", "acgan", "sngan", "lsgan", "infogan"} <= set(
        proc.stdout.split())


def test_kerasgan_serve_is_the_kits_service_without_tensorflow(tmp_path):
    """`kerasgan serve` runs export/serve.py's main (kerasgan.kit.serve): its options,
    its one-line errors, and no TensorFlow imported."""
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "kerasgan.cli", "serve",
                           str(bad), "--port", "0"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f"serve.py: error: {bad} is not a valid ONNX model"), lines[-1]
    imported = {line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time")}
    assert "onnxruntime" in imported and "tensorflow" not in imported
    assert "Traceback" not in proc.stderr


def _write_png(path, size=(28, 28), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, 128).save(path)


def _bad_inputs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = tmp_path / "corrupt"
    for i in range(3):
        _write_png(corrupt / "a" / f"{i}.png")
    (corrupt / "a" / "bad.png").write_bytes(b"not a png at all")
    mixed = tmp_path / "mixed"
    _write_png(mixed / "a" / "0.png", (28, 28))
    _write_png(mixed / "a" / "1.png", (32, 32))
    rgba = tmp_path / "rgba.npz"
    np.savez(rgba, x=np.zeros((8, 28, 28, 4), np.uint8))
    odd = tmp_path / "odd.npz"
    np.savez(odd, x=np.zeros((8, 27, 27, 1), np.uint8))
    other = tmp_path / "other"
    assert run_cli("train", "wgan_gp", "--epochs", "1", "--out", other, *TINY) == 0
    grey = tmp_path / "grey"
    assert run_cli("train", "dcgan", "--epochs", "1", "--out", grey, *TINY) == 0
    return [
        (["train", "dcgan", "--data", tmp_path / "nope"], "not found"),
        (["train", "dcgan", "--data", empty], "no images"),
        (["train", "dcgan", "--data", corrupt], "bad.png"),
        (["train", "dcgan", "--data", mixed], "--resize"),
        (["train", "dcgan", "--data", rgba], "--channels"),
        (["train", "dcgan", "--data", odd], "--resize"),
        (["train", "stylegan9"], "unknown GAN family"),
        (["train", "dcgan", "--data", "tfds:no_such_dataset_xyz"], "no_such_dataset_xyz"),
        (["train", "dcgan", "--batch-size", "20000"], "larger than the dataset"),
        (["train", "dcgan", "--out", other], "holds a run of family 'wgan_gp'"),
        (["train", "dcgan", "--out", grey, "--channels", "3"], "other settings"),
        (["sample", tmp_path / "missing-run"], "does not exist"),
        (["sample", empty], "not a kerasgan run"),
        (["train", "dcgan", "--resize", "big"], "--resize"),
    ]


@pytest.mark.slow
def test_bad_inputs_give_one_clear_line(tmp_path, capsys):
    cases = _bad_inputs(tmp_path)
    capsys.readouterr()
    for args, expected in cases:
        args = list(args)
        if args[0] == "train":
            args += ["--epochs", "1"] + (["--out", tmp_path / "x"] if "--out" not in args else [])
            args += ["--width", "4", "--latent-dim", "8", "--quiet"]
        code = run_cli(*args)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2, (args, err)
        assert len(err) == 1 and err[0].startswith("kerasgan: error: "), (args, err)
        assert expected in err[0], (args, err)
    assert not (tmp_path / "x" / "gan.keras").exists()


def test_no_network_for_tfds_is_clear(tmp_path, monkeypatch, capsys):
    import tensorflow_datasets as tfds

    def offline(self, *a, **k):
        raise tfds.download.DownloadError("Failed to get url: network unreachable")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    code = run_cli("train", "dcgan", "--data", "tfds:mnist", "--epochs", "1",
                   "--out", tmp_path / "r", "--quiet")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no network" in err[0], err


def test_atomic_write_leaves_nothing_on_failure_and_normal_permissions(tmp_path):
    from kerasgan.images import atomic_write, save_grid

    target = tmp_path / "grid.png"
    save_grid(np.zeros((4, 8, 8, 1), "float32"), target)
    good = target.read_bytes()
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())

    def fail(tmp):
        open(tmp, "wb").write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, fail)
    assert target.read_bytes() == good  # the previous file is intact
    assert sorted(os.listdir(tmp_path)) == ["grid.png"]  # no temporary left behind


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_export_a_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli("train", "dcgan", "--epochs", "1", "--out", out, *TINY) == 0
    exported = tmp_path / "exported"
    assert run_cli("export", out, "--format", "all", "--out", exported) == 0
    assert sorted(os.listdir(exported)) == ["dcgan.onnx", "dcgan_savedmodel"]
    printed = capsys.readouterr().out
    assert "parity max abs diff onnxruntime" in printed and "saved_model" in printed
    from kerasgan import export

    meta = export.read_metadata(exported / "dcgan.onnx")
    assert meta["dataset"] == "mnist-10k" and meta["latent_dim"] == 8
    assert meta["weights_sha256"] == export.weights_sha256(keras.saving.load_model(
        out / "generator.keras"))
    assert run_cli("export", out, "--format", "onnx", "--opset", "13", "--name", "g13",
                   "--out", exported) == 0
    assert export.read_metadata(exported / "g13.onnx")["opset"] == 13
    # a generator .keras file exports too (its run.json names the family and data)
    assert run_cli("export", out / "generator.keras", "--format", "onnx", "--out",
                   tmp_path / "from_file") == 0
    meta = export.read_metadata(tmp_path / "from_file" / "dcgan.onnx")
    assert meta["family"] == "dcgan" and meta["dataset"] == "mnist-10k"
    capsys.readouterr()
    assert run_cli("export", tmp_path / "nothing", "--out", exported) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run_cli("export", out, "--format", "saved_model", "--opset", "13", "--out",
                   exported) == 2
    assert "--opset applies to" in capsys.readouterr().err


def _labelled_npz(path, n=64):
    """A tiny labelled dataset: class c is a bright square at a class-specific place."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 40, (n, 8, 8, 1)).astype(np.uint8)
    y = np.arange(n) % 3
    for i, c in enumerate(y):
        x[i, 2 * c : 2 * c + 3, 2 * c : 2 * c + 3] = 255
    np.savez(path, x=x, y=y)
    return path


def test_train_a_conditional_family_and_sample_a_label(tmp_path, capsys):
    data = _labelled_npz(tmp_path / "three.npz")
    out = tmp_path / "cgan"
    tiny = ["--width", "4", "--latent-dim", "8", "--batch-size", "16", "--quiet"]
    assert run_cli("train", "cgan", "--data", data, "--epochs", "1", "--out", out, *tiny) == 0
    config = json.loads((out / "run.json").read_text())
    assert config["model"]["num_classes"] == 3
    gan = keras.saving.load_model(out / "gan.keras")
    assert gan.num_classes == 3
    # the default grid has one row per class
    png = tmp_path / "rows.png"
    assert run_cli("sample", out, "--n", "6", "--out", png) == 0
    assert Image.open(png).size == (2 * 10 + 2, 3 * 10 + 2)  # 3 rows of 2, 8px + 2px padding
    png7 = tmp_path / "label.png"
    assert run_cli("sample", out, "--n", "4", "--label", "2", "--seed", "1", "--out", png7) == 0
    from kerasgan.images import make_grid
    expected = make_grid(gan.generate(4, seed=1, labels=2))
    np.testing.assert_array_equal(np.asarray(Image.open(png7)).reshape(expected.shape), expected)
    capsys.readouterr()
    dcgan = tmp_path / "dcgan"
    assert run_cli("train", "dcgan", "--data", data, "--epochs", "1", "--out", dcgan, *tiny) == 0
    unlabelled = tmp_path / "nolabels.npz"
    np.savez(unlabelled, x=np.load(data)["x"])
    for args, expected_err in [
        (["sample", out, "--label", "3"], "--label must be a class in [0, 3)"),
        (["sample", out, "--label", "-1"], "--label must be a class in [0, 3)"),
        (["sample", dcgan, "--label", "1"], "unconditional dcgan: it takes no --label"),
        (["train", "acgan", "--data", unlabelled, "--out", tmp_path / "y", *tiny],
         "acgan is class-conditional but"),
        (["train", "cgan", "--data", data, "--no-labels", "--out", tmp_path / "y", *tiny],
         "cannot train with --no-labels"),
        (["train", "sngan", "--data", data, "--width", "4", "--out", tmp_path / "y"],
         "--width does not apply to sngan: use --g-width / --d-width"),
    ]:
        assert run_cli(*args) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected_err in err[0], (args, err)
    assert not (tmp_path / "y").exists()
