"""Tests of kerasgan.data: sources, options, errors and the deterministic pipeline."""

import gzip
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasgan import data
from kerasgan.data import DataError, ImageSource

from conftest import require  # fails instead of skipping under CI=true

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_MNIST = os.path.join(REPO_ROOT, "..", "shared", "data", "mnist")


# ----------------------------------------------------------------------------- helpers


def write_idx(path, array, gz=False):
    """Writes `array` (uint8) as an IDX file, as in the MNIST distribution."""
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + array.tobytes()
    if gz:
        payload = gzip.compress(payload)
    with open(path, "wb") as f:
        f.write(payload)


def indexed_source(n=50, size=4, labels=True):
    """A source whose image i is filled with the value i (so batches reveal order)."""
    images = np.zeros((n, size, size, 1), np.uint8)
    for i in range(n):
        images[i] = i
    return ImageSource(images, np.arange(n) % 7 if labels else None, name="indexed")


def ids(batch):
    """Image ids of an `indexed_source` batch (reads the top-left pixel)."""
    return np.rint((batch.numpy()[:, 0, 0, 0] + 1.0) * 127.5).astype(int)


def epoch_ids(ds):
    return np.concatenate([ids(b) for b in ds])


def random_rgb(rng, h, w):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


# ----------------------------------------------------------------------------- mnist-10k


@pytest.fixture(scope="module")
def mnist10k():
    return data.open_source("mnist-10k")


def test_mnist_10k_matches_bundled_files(mnist10k):
    src = mnist10k
    assert len(src) == 10000
    assert src.images.shape == (10000, 28, 28, 1)
    assert src.images.dtype == np.uint8
    assert src.image_shape == (28, 28, 1)
    assert src.labels.dtype == np.int64 and src.labels.shape == (10000,)
    assert src.num_classes == 10
    assert src.class_names == [str(i) for i in range(10)]
    assert src.name == "mnist-10k"
    assert sorted(np.unique(src.labels)) == list(range(10))
    # Independent parse of the bundled files: 16-byte image header, 8-byte label header.
    with gzip.open(os.path.join(data.BUNDLED_MNIST_DIR, "t10k-images-idx3-ubyte.gz")) as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16)
    with gzip.open(os.path.join(data.BUNDLED_MNIST_DIR, "t10k-labels-idx1-ubyte.gz")) as f:
        raw_labels = np.frombuffer(f.read(), np.uint8, offset=8)
    np.testing.assert_array_equal(src.images.reshape(-1), raw)
    np.testing.assert_array_equal(src.labels, raw_labels)
    assert src.labels[0] == 7  # the first MNIST test digit is a 7


def test_mnist_10k_dataset_values(mnist10k):
    ds = mnist10k.dataset(1000, labels=True, shuffle=False)
    assert ds.cardinality().numpy() == 10
    x, y = next(iter(ds))
    assert x.dtype == tf.float32 and x.shape == (1000, 28, 28, 1)
    assert y.dtype == tf.int32 and y.shape == (1000,)
    expected = mnist10k.images[:1000].astype(np.float32) / 127.5 - 1.0
    np.testing.assert_array_equal(x.numpy(), expected)
    np.testing.assert_array_equal(y.numpy(), mnist10k.labels[:1000])
    assert x.numpy().min() == -1.0 and x.numpy().max() == 1.0


def test_pixel_mapping_is_exact():
    images = np.array([0, 1, 127, 128, 254, 255], np.uint8).reshape(6, 1, 1, 1)
    (x,) = list(ImageSource(images).dataset(6, shuffle=False))
    np.testing.assert_array_equal(
        x.numpy().reshape(-1), np.array([0, 1, 127, 128, 254, 255], np.float32) / 127.5 - 1.0
    )
    assert x.numpy()[0, 0, 0, 0] == -1.0 and x.numpy()[-1, 0, 0, 0] == 1.0


def test_load_equals_open_source_dataset():
    ds = data.load("mnist-10k", batch_size=32, labels=True, seed=3, flip=True)
    ref = data.open_source("mnist-10k").dataset(32, labels=True, seed=3, flip=True)
    (x1, y1), (x2, y2) = next(iter(ds)), next(iter(ref))
    np.testing.assert_array_equal(x1.numpy(), x2.numpy())
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())


def test_mnist_10k_resize_and_channels(mnist10k):
    src = data.open_source("mnist-10k", resize=14, channels=3)
    assert src.image_shape == (14, 14, 3)
    np.testing.assert_array_equal(src.images[..., 0], src.images[..., 2])
    # Downscaled digits keep their mass where the originals have it.
    small = src.images[..., 0].astype(float).mean(axis=(1, 2))
    big = mnist10k.images[..., 0].astype(float).mean(axis=(1, 2))
    assert np.corrcoef(small, big)[0, 1] > 0.99
    up = data.open_source("mnist-10k", resize=(32, 40))
    assert up.image_shape == (32, 40, 1)
    assert data.open_source("mnist-10k", resize="20x24").image_shape == (20, 24, 1)


def test_channels_conversion():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)
    gray = data.convert_channels(rgb, 1)
    assert gray.shape == (5, 6, 7, 1)
    for i in range(5):  # ITU-R 601-2 luma, exactly as PIL's "L"
        np.testing.assert_array_equal(gray[i, ..., 0], np.asarray(Image.fromarray(rgb[i]).convert("L")))
    back = data.convert_channels(gray, 3)
    assert back.shape == (5, 6, 7, 3)
    for c in range(3):
        np.testing.assert_array_equal(back[..., c], gray[..., 0])
    assert data.convert_channels(rgb, None) is rgb


def test_open_source_accepts_image_source():
    src = indexed_source(10)
    assert data.open_source(src) is src
    rgb = data.open_source(src, channels=3, resize=(2, 2))
    assert rgb.image_shape == (2, 2, 3) and rgb.num_classes == src.num_classes
    np.testing.assert_array_equal(rgb.labels, src.labels)


# ----------------------------------------------------------------------------- TFDS


def test_tfds_mock_mnist():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):
        src = data.open_source("tfds:mnist")
        test_src = data.open_source("tfds:mnist:test", channels=3, resize=(8, 8))
        ds = data.load("tfds:mnist", batch_size=4, labels=True, seed=0)
        batches = list(ds)
    assert len(src) == 12 and src.image_shape == (28, 28, 1)
    assert src.images.dtype == np.uint8
    assert src.labels.shape == (12,) and src.labels.min() >= 0 and src.labels.max() < 10
    assert src.num_classes == 10
    assert src.name.startswith("tfds:mnist")
    assert test_src.image_shape == (8, 8, 3) and "test" in test_src.name
    assert len(batches) == 3
    x, y = batches[0]
    assert x.shape == (4, 28, 28, 1) and y.dtype == tf.int32
    assert -1.0 <= x.numpy().min() and x.numpy().max() <= 1.0


def test_tfds_unknown_name():
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(DataError, match="unknown TFDS dataset 'mnistt'.*tfds.list_builders"):
        data.open_source("tfds:mnistt")
    with pytest.raises(DataError, match="no dataset name"):
        data.open_source("tfds:")


def test_tfds_download_failure(tmp_path, monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")

    def offline(self, *args, **kwargs):  # what an unreachable host looks like to tfds
        raise tfds.download.DownloadError("Failed to get url https://example.invalid/x.gz: unreachable")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    with pytest.raises(DataError, match=r"could not download/prepare TFDS dataset 'mnist' \(no network\?\).*tfds build"):
        data.open_source("tfds:mnist", data_dir=str(tmp_path))


# ----------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder(tmp_path, gz):
    rng = np.random.default_rng(1)
    train = rng.integers(0, 256, (9, 5, 6), dtype=np.uint8)
    train_y = rng.integers(0, 4, 9).astype(np.uint8)
    test = rng.integers(0, 256, (3, 5, 6), dtype=np.uint8)
    suffix = ".gz" if gz else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", train, gz)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", train_y, gz)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", test, gz)

    src = data.open_source(str(tmp_path))
    assert src.images.shape == (9, 5, 6, 1)
    np.testing.assert_array_equal(src.images[..., 0], train)
    np.testing.assert_array_equal(src.labels, train_y)
    assert src.name == f"idx:{tmp_path}"

    test_src = data.open_source(tmp_path, split="test")  # a pathlib.Path works too
    np.testing.assert_array_equal(test_src.images[..., 0], test)
    assert test_src.labels is None  # no t10k labels file: labels are optional

    direct = data.open_source(str(tmp_path / f"train-images-idx3-ubyte{suffix}"))
    np.testing.assert_array_equal(direct.images, src.images)
    np.testing.assert_array_equal(direct.labels, train_y)

    with pytest.raises(DataError, match="no 'val' IDX images"):
        data.open_source(str(tmp_path), split="val")
    with pytest.raises(DataError, match="labels file"):
        data.open_source(str(tmp_path / f"train-labels-idx1-ubyte{suffix}"))


def test_idx_corrupt_files(tmp_path):
    images = np.zeros((10, 4, 4), np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    full = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(full[:-7])
    with pytest.raises(DataError, match="truncated"):
        data.open_source(str(tmp_path))

    gz_dir = tmp_path / "gz"
    gz_dir.mkdir()
    compressed = gzip.compress(full)
    (gz_dir / "train-images-idx3-ubyte.gz").write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        data.open_source(str(gz_dir))

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train-images-idx3-ubyte").write_bytes(b"PK\x03\x04 not an idx file at all")
    with pytest.raises(DataError, match="bad magic number"):
        data.open_source(str(bad))

    mismatch = tmp_path / "mismatch"
    mismatch.mkdir()
    write_idx(mismatch / "train-images-idx3-ubyte", images)
    write_idx(mismatch / "train-labels-idx1-ubyte", np.zeros(9, np.uint8))
    with pytest.raises(DataError, match="expected 10 labels"):
        data.open_source(str(mismatch))


# ----------------------------------------------------------------------------- image folders


def test_image_folder_with_classes(tmp_path):
    rng = np.random.default_rng(2)
    arrays = {}
    for cls, count in [("cat", 2), ("ant", 3), ("bee", 1)]:
        (tmp_path / cls).mkdir()
        for i in range(count):
            a = random_rgb(rng, 6, 5)
            Image.fromarray(a).save(tmp_path / cls / f"{i}.png")
            arrays[(cls, i)] = a
    (tmp_path / "empty_class").mkdir()  # no images: not a class
    src = data.open_source(str(tmp_path))
    assert src.class_names == ["ant", "bee", "cat"]
    assert src.num_classes == 3
    assert src.image_shape == (6, 5, 3)
    np.testing.assert_array_equal(src.labels, [0, 0, 0, 1, 2, 2])
    np.testing.assert_array_equal(src.images[0], arrays[("ant", 0)])  # PNG is lossless
    np.testing.assert_array_equal(src.images[5], arrays[("cat", 1)])
    assert src.name == f"folder:{tmp_path}"
    x, y = next(iter(src.dataset(6, labels=True, shuffle=False)))
    np.testing.assert_array_equal(y.numpy(), [0, 0, 0, 1, 2, 2])


def test_flat_folder_and_mixed_modes(tmp_path):
    rng = np.random.default_rng(3)
    rgb = random_rgb(rng, 4, 4)
    gray = rng.integers(0, 256, (4, 4), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(gray).save(tmp_path / "b.bmp")
    Image.fromarray(rgb).save(tmp_path / "c.jpg", quality=95)
    (tmp_path / "notes.txt").write_text("not an image")
    src = data.open_source(str(tmp_path))
    assert src.labels is None and src.num_classes is None and src.class_names is None
    assert src.images.shape == (3, 4, 4, 3)  # one RGB image: all become RGB
    np.testing.assert_array_equal(src.images[0], rgb)
    np.testing.assert_array_equal(src.images[1], np.repeat(gray[..., None], 3, axis=-1))
    gray_src = data.open_source(str(tmp_path), channels=1)
    assert gray_src.images.shape == (3, 4, 4, 1)
    np.testing.assert_array_equal(gray_src.images[0, ..., 0], np.asarray(Image.fromarray(rgb).convert("L")))
    np.testing.assert_array_equal(gray_src.images[1, ..., 0], gray)
    with pytest.raises(DataError, match="no labels"):
        src.dataset(2, labels=True)


def test_folder_split_subfolders(tmp_path):
    for split, n in [("train", 3), ("test", 2)]:
        (tmp_path / split / "x").mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((4, 4), i, np.uint8)).save(tmp_path / split / "x" / f"{i}.png")
    assert len(data.open_source(str(tmp_path))) == 3
    assert len(data.open_source(str(tmp_path), split="test")) == 2
    with pytest.raises(DataError, match="no 'val'"):
        data.open_source(str(tmp_path), split="val")


def test_empty_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    with pytest.raises(DataError, match=r"no images found in .*\.png.*\.jpg"):
        data.open_source(str(tmp_path))


def test_corrupt_image_is_named(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage garbage garbage")
    with pytest.raises(DataError, match=r"could not read image .*broken\.png"):
        data.open_source(str(tmp_path))


def test_mixed_sizes_need_resize(tmp_path):
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(DataError) as info:
        data.open_source(str(tmp_path))
    message = str(info.value)
    assert "a.png is 6x4" in message and "b.png is 8x8" in message
    assert "resize=(H, W)" in message and "--resize HxW" in message
    assert "\n" not in message
    src = data.open_source(str(tmp_path), resize=(5, 7))
    assert src.images.shape == (2, 5, 7, 3)
    assert np.all(src.images[0] == 0) and np.all(src.images[1] == 200)


# ----------------------------------------------------------------------------- npz


def test_npz_uint8_and_float(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (8, 5, 5, 3), dtype=np.uint8)
    y = rng.integers(0, 3, 8)
    np.savez(tmp_path / "u8.npz", x=x, y=y)
    src = data.open_source(str(tmp_path / "u8.npz"))
    np.testing.assert_array_equal(src.images, x)
    np.testing.assert_array_equal(src.labels, y)
    assert src.name == f"npz:{tmp_path / 'u8.npz'}"

    np.savez(tmp_path / "f01.npz", images=x[..., 0] / 255.0)  # (N, H, W) floats in [0, 1]
    src01 = data.open_source(str(tmp_path / "f01.npz"))
    assert src01.images.shape == (8, 5, 5, 1) and src01.labels is None
    np.testing.assert_array_equal(src01.images[..., 0], x[..., 0])

    np.savez(tmp_path / "fpm1.npz", x.astype(np.float32) / 127.5 - 1.0)  # the only array, in [-1, 1]
    np.testing.assert_array_equal(data.open_source(str(tmp_path / "fpm1.npz")).images, x)

    np.savez(tmp_path / "bad.npz", x=np.full((2, 4, 4), 300.0))
    with pytest.raises(DataError, match=r"\[0, 1\], \[-1, 1\]"):
        data.open_source(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "nokey.npz", a=x, b=y)
    with pytest.raises(DataError, match="no images array"):
        data.open_source(str(tmp_path / "nokey.npz"))


# ----------------------------------------------------------------------------- errors


def test_missing_and_unknown_sources(tmp_path):
    with pytest.raises(DataError, match=r"not found.*mnist-10k, tfds:NAME.*\.npz"):
        data.open_source(str(tmp_path / "nope"))
    with pytest.raises(DataError, match=r"'mnist' not found.*tfds:mnist"):
        data.open_source("mnist")
    (tmp_path / "file.csv").write_text("a,b")
    with pytest.raises(DataError, match="unknown type"):
        data.open_source(str(tmp_path / "file.csv"))
    with pytest.raises(DataError, match="channels must be 1"):
        data.open_source("mnist-10k", channels=2)
    with pytest.raises(DataError, match="resize"):
        data.open_source("mnist-10k", resize=(0, 4))
    with pytest.raises(DataError):
        data.open_source(42)


def test_batch_size_errors():
    src = indexed_source(20)
    with pytest.raises(DataError, match=r"batch size 32 is larger than the dataset \(20 images\): use a batch size ≤ 20"):
        src.dataset(32)
    assert len(list(src.dataset(32, drop_remainder=False))) == 1
    for bad in (0, -1, 2.5, "8", True):
        with pytest.raises(DataError, match="batch_size"):
            src.dataset(bad)
    with pytest.raises(DataError, match="no images"):
        ImageSource(np.zeros((0, 4, 4, 1), np.uint8)).dataset(1)
    with pytest.raises(DataError, match="start_epoch"):
        src.dataset(4, start_epoch=-1)
    with pytest.raises(DataError, match="seed"):
        src.dataset(4, seed="abc")
    with pytest.raises(DataError, match="uint8"):
        ImageSource(np.zeros((2, 4, 4, 1), np.float32))


# ----------------------------------------------------------------------------- pipeline


def test_batches_and_remainder():
    src = indexed_source(23, labels=True)
    assert src.num_batches(5) == 4 and src.num_batches(5, drop_remainder=False) == 5
    ds = src.dataset(5, shuffle=False, drop_remainder=False, labels=True)
    batches = list(ds)
    assert [b[0].shape[0] for b in batches] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(np.concatenate([ids(b[0]) for b in batches]), np.arange(23))
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), np.arange(23) % 7)
    dropped = src.dataset(5, shuffle=False)
    assert dropped.cardinality().numpy() == 4
    assert dropped.element_spec.shape.as_list() == [5, 4, 4, 1]


def test_shuffle_is_a_permutation_and_seeded():
    src = indexed_source(50)
    a = epoch_ids(src.dataset(10, seed=7))
    b = epoch_ids(src.dataset(10, seed=7))
    c = epoch_ids(src.dataset(10, seed=8))
    np.testing.assert_array_equal(np.sort(a), np.arange(50))
    np.testing.assert_array_equal(a, b)  # same seed: same batches
    assert not np.array_equal(a, c)  # other seed: other order
    assert not np.array_equal(a, np.arange(50))


def test_shuffled_labels_follow_images():
    src = indexed_source(50)
    for x, y in src.dataset(10, seed=1, labels=True, flip=True):
        np.testing.assert_array_equal(y.numpy(), ids(x) % 7)


def test_repeat_resume_matches_epoch_k():
    src = indexed_source(30)
    per_epoch = src.num_batches(4)  # 7 batches, remainder dropped
    full = [ids(b) for b in src.dataset(4, seed=5, flip=True, repeat=True).take(4 * per_epoch)]
    resumed = [ids(b) for b in src.dataset(4, seed=5, flip=True, repeat=True, start_epoch=2).take(2 * per_epoch)]
    for got, expected in zip(resumed, full[2 * per_epoch :]):
        np.testing.assert_array_equal(got, expected)
    # Epochs differ from each other, and each drops its own remainder.
    epochs = [np.concatenate(full[e * per_epoch : (e + 1) * per_epoch]) for e in range(4)]
    assert len({tuple(e) for e in epochs}) == 4
    assert all(len(np.unique(e)) == 28 for e in epochs)
    # Flips resume exactly too (compare the pixels, not just the ids).
    x_full = list(src.dataset(4, seed=5, flip=True, repeat=True).skip(per_epoch).take(per_epoch))
    x_res = list(src.dataset(4, seed=5, flip=True, repeat=True, start_epoch=1).take(per_epoch))
    for p, q in zip(x_full, x_res):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert src.dataset(4, repeat=True).cardinality().numpy() == tf.data.INFINITE_CARDINALITY


def test_single_epoch_reshuffles_each_iteration():
    src = indexed_source(40)
    ds = src.dataset(8, seed=3)
    first, second = epoch_ids(ds), epoch_ids(ds)
    np.testing.assert_array_equal(np.sort(first), np.arange(40))
    np.testing.assert_array_equal(np.sort(second), np.arange(40))
    assert not np.array_equal(first, second)
    again = src.dataset(8, seed=3)  # a fresh dataset with the same seed replays the same orders
    np.testing.assert_array_equal(epoch_ids(again), first)
    np.testing.assert_array_equal(epoch_ids(again), second)
    plain = src.dataset(8, shuffle=False)
    np.testing.assert_array_equal(epoch_ids(plain), np.arange(40))
    np.testing.assert_array_equal(epoch_ids(plain), np.arange(40))


def test_flip_only_mirrors(mnist10k):
    src = ImageSource(mnist10k.images[:256], name="mnist-256")
    original = src.images.astype(np.float32) / 127.5 - 1.0
    mirrored = original[:, :, ::-1, :]
    flipped = np.concatenate([b.numpy() for b in src.dataset(64, shuffle=False, flip=True, seed=0)])
    same = np.all(flipped == original, axis=(1, 2, 3))
    mirror = np.all(flipped == mirrored, axis=(1, 2, 3))
    assert np.all(same | mirror)  # every output is the input or its mirror
    changed = mirror & ~same
    assert 64 < changed.sum() < 192  # about half are flipped
    unflipped = np.concatenate([b.numpy() for b in src.dataset(64, shuffle=False, seed=0)])
    np.testing.assert_array_equal(unflipped, original)


def test_dataset_trains_with_keras_fit():
    keras = pytest.importorskip("keras")
    src = indexed_source(32)
    ds = src.dataset(8, labels=True, seed=0).map(lambda x, y: (x, tf.one_hot(y, 7)))
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(7)])
    model.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, epochs=2, verbose=0, shuffle=False)
    assert len(history.history["loss"]) == 2


# ----------------------------------------------------------------------------- shared data (optional)


def test_shared_mnist_train():
    require(os.path.abspath(SHARED_MNIST), "shared MNIST (../shared/data/mnist)")
    src = data.open_source(SHARED_MNIST)
    assert src.images.shape == (60000, 28, 28, 1)
    assert src.labels.shape == (60000,) and src.num_classes == 10
    assert abs(src.images.mean() / 255.0 - 0.1307) < 0.001
    n = sum(int(b.shape[0]) for b in src.dataset(1000, seed=0, flip=True))
    assert n == 60000
