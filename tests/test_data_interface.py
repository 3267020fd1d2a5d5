"""Every data source implements `kerasgan.data.Source` (and the image ones
`ImageDataSource`), and its `dataset()` is a pure function of (seed, epoch).

Tiny sources made in memory or in `tmp_path`: an image folder, A|B pair files,
two unpaired domains, super-resolution targets.
"""

import inspect

import numpy as np
import pytest
from PIL import Image

from kerasgan import data, utils
from kerasgan.data import image_io
from kerasgan.data.source import ImageDataSource, Source

SOURCE_CLASSES = (data.ImageSource, data.PairedImageSource, data.UnpairedImageSource,
                  data.SuperResolutionSource)

#: the arguments every ``dataset()`` takes, with their defaults
COMMON_DATASET_ARGUMENTS = {"shuffle": True, "seed": None, "drop_remainder": True,
                            "repeat": False, "start_epoch": 0, "start_step": 0}


def _write_folder(root, n=6, size=(8, 8)):
    rng = np.random.default_rng(0)
    for i in range(n):
        cls = root / f"c{i % 2}"
        cls.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(cls / f"{i}.png")
    return root


def _write_pairs(root, n=6, size=8):
    rng = np.random.default_rng(1)
    (root / "train").mkdir(parents=True)
    for i in range(n):
        pair = rng.integers(0, 256, (size, 2 * size, 3), dtype=np.uint8)
        Image.fromarray(pair).save(root / "train" / f"{i + 1}.png")
    return root


@pytest.fixture(params=["images", "pairs", "unpaired", "super_resolution"])
def source(request, tmp_path):
    kind = request.param
    if kind == "images":
        return data.open_source(str(_write_folder(tmp_path / "folder")))
    if kind == "pairs":
        return data.open_paired(_write_pairs(tmp_path / "pairs"), direction="BtoA")
    if kind == "unpaired":
        rng = np.random.default_rng(2)
        return data.UnpairedImageSource(rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8),
                                        rng.integers(0, 256, (7, 8, 8, 3), dtype=np.uint8))
    return data.open_super_resolution(str(_write_folder(tmp_path / "hr")), scale=2)


def _options(src):
    """The augmentation every image source of this kind takes (flips; jitter too
    where it has it)."""
    params = inspect.signature(src.dataset).parameters
    options = {"flip": True}
    if "jitter" in params and not isinstance(src, data.SuperResolutionSource):
        options["jitter"] = True
    return options


def _numpy(element):
    if isinstance(element, (tuple, list)):
        return tuple(np.asarray(e) for e in element)
    return (np.asarray(element),)


def _epoch(src, seed, epoch, batch_size=2):
    steps = src.num_batches(batch_size)
    ds = src.dataset(batch_size, seed=seed, repeat=True, start_epoch=epoch, **_options(src))
    return [_numpy(b) for b in ds.take(steps)]


@pytest.mark.parametrize("cls", SOURCE_CLASSES, ids=lambda c: c.__name__)
def test_every_source_class_implements_the_interface(cls):
    assert issubclass(cls, Source) and issubclass(cls, ImageDataSource)
    assert not inspect.isabstract(cls), f"{cls.__name__} leaves abstract members"
    params = inspect.signature(cls.dataset).parameters
    assert "batch_size" in params
    for name, default in COMMON_DATASET_ARGUMENTS.items():
        assert name in params, f"{cls.__name__}.dataset has no {name!r}"
        assert params[name].default == default, (cls.__name__, name)
    assert "flip" in params
    arrays = inspect.signature(cls.arrays).parameters
    assert list(arrays)[1:3] == ["start", "stop"]


def test_the_base_classes_are_abstract():
    assert inspect.isabstract(Source) and inspect.isabstract(ImageDataSource)
    with pytest.raises(TypeError):
        Source()


def test_a_source_has_the_common_members(source):
    assert isinstance(source, Source) and isinstance(source, ImageDataSource)
    assert isinstance(source.name, str) and source.name
    n = len(source)
    assert n > 0 and source.num_examples == n
    assert source.num_batches(2) == n // 2 and source.num_batches(4, drop_remainder=False) == -(-n // 4)
    assert len(source.image_shape) == 3 and len(source.target_shape) == 3
    assert source.images.dtype == np.uint8 and source.images.shape[1:] == source.target_shape
    assert (source.labels is None) == (source.num_classes is None)
    # arrays(): the elements of dataset() in stored order, unshuffled, unaugmented
    first = _numpy(source.arrays(0, 2))
    batch = _numpy(next(iter(source.dataset(2, shuffle=False, seed=0))))
    assert len(first) == len(batch)
    for a, b in zip(first, batch):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert first[0].shape[1:] == source.image_shape
    assert first[-1].shape[1:] == source.target_shape


def test_dataset_is_a_function_of_seed_and_epoch(source):
    once = _epoch(source, seed=7, epoch=3)
    again = _epoch(source, seed=7, epoch=3)
    assert len(once) == source.num_batches(2)
    for a, b in zip(once, again):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    # a fresh non-repeating dataset with the same seed gives the same epoch too
    first = [_numpy(b) for b in source.dataset(2, seed=7, start_epoch=3, **_options(source))]
    second = [_numpy(b) for b in source.dataset(2, seed=7, start_epoch=3, **_options(source))]
    for a, b in zip(first, second):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    # epoch k is the same whether the repeating dataset starts at 0 or at k
    from_zero = [_numpy(b) for b in source.dataset(
        2, seed=7, repeat=True, start_epoch=0, **_options(source)).take(4 * source.num_batches(2))]
    for a, b in zip(from_zero[3 * source.num_batches(2):], once):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    # and another seed or epoch gives another order / augmentation
    other = _epoch(source, seed=8, epoch=3) + _epoch(source, seed=7, epoch=4)
    flat = lambda batches: np.concatenate([x.ravel() for b in batches for x in b])
    assert not np.array_equal(flat(once), flat(other[: len(once)]))
    assert not np.array_equal(flat(once), flat(other[len(once):]))


def test_common_arguments_are_checked_alike(source):
    for bad in (0, -1, 2.5, "8", True):
        with pytest.raises(data.DataError, match=r"batch_size must be an integer >= 1, got"):
            source.dataset(bad, seed=0)
    with pytest.raises(data.DataError, match=r"start_epoch must be an integer >= 0, got -1"):
        source.dataset(2, seed=0, start_epoch=-1)
    with pytest.raises(data.DataError, match=r"batch size 99 is larger than the dataset"):
        source.dataset(99, seed=0)
    with pytest.raises(data.DataError, match="seed must be an integer or None"):
        source.dataset(2, seed="abc")
    with pytest.raises(data.DataError, match="start_step .* is not inside an epoch"):
        source.dataset(2, seed=0, start_step=source.num_batches(2))
    if source.labels is None:
        with pytest.raises(data.DataError, match="no (class )?labels"):
            source.dataset(2, seed=0, labels=True)


# ------------------------------------------------------------------ one reader, one resize rule


def test_one_resize_rule_for_every_source(tmp_path):
    """Folders, arrays and pair halves resized to the same size give the same
    pixels: bicubic, antialiased when shrinking, as PIL's BICUBIC."""
    rng = np.random.default_rng(3)
    left = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    right = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    (tmp_path / "folder").mkdir()
    Image.fromarray(left).save(tmp_path / "folder" / "a.png")
    (tmp_path / "pairs" / "train").mkdir(parents=True)
    Image.fromarray(np.concatenate([left, right], axis=1)).save(tmp_path / "pairs" / "train" / "1.png")
    for size in ((7, 5), (16, 20)):
        expected = np.asarray(Image.fromarray(left).resize(size[::-1], Image.Resampling.BICUBIC))
        folder = data.open_source(str(tmp_path / "folder"), resize=size).images[0]
        array = data.open_source(data.ImageSource(left[None]), resize=size).images[0]
        paired = data.open_paired(tmp_path / "pairs", resize=size).inputs[0]
        unpaired = data.open_unpaired(tmp_path / "pairs", resize=size).a[0]
        for got in (folder, array, paired, unpaired):
            np.testing.assert_array_equal(got, expected)


def test_resize_treats_every_channel_alone():
    rng = np.random.default_rng(4)
    rgba = rng.integers(0, 256, (2, 9, 9, 4), dtype=np.uint8)
    out = image_io.resize_images(rgba, (4, 4))
    gray = image_io.resize_images(np.ascontiguousarray(rgba[..., 3:]), (4, 4))
    np.testing.assert_array_equal(out[..., 3:], gray)  # alpha never premultiplies RGB
    rgb = image_io.resize_images(np.ascontiguousarray(rgba[..., :3]), (4, 4))
    np.testing.assert_array_equal(out[..., :3], rgb)
    same = image_io.resize_images(rgba, (9, 9))
    assert same is rgba  # no resize, no change


def test_the_shared_checks():
    assert utils.check_int(np.int64(3), "n") == 3
    for bad in (True, 2.0, "2", None):
        with pytest.raises(ValueError, match=r"n must be an integer >= 1, got"):
            utils.check_int(bad, "n")
    with pytest.raises(ValueError, match=r"n must be a positive integer number of images, got 0"):
        utils.check_int(0, "n", expected="a positive integer number of images")
    assert utils.check_number(np.float32(0.5), "gain", lambda v: v > 0) == 0.5
    for bad in (0, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError, match=r"gain must be a positive number, got"):
            utils.check_number(bad, "gain", lambda v: v > 0, "a positive number")
    assert utils.check_choice(3, "channels", (1, 3)) == 3
    with pytest.raises(data.DataError, match="channels must be 1 or 3, got 3.0"):
        utils.check_choice(3.0, "channels", (1, 3), error=data.DataError)
    assert utils.check_image_shape([8, 8.0, 3]) == (8, 8, 3)
    with pytest.raises(ValueError, match=r"images must be at least 4x4 pixels, got 2x2"):
        utils.check_image_shape((2, 2, 1), min_size=4)
    with pytest.raises(ValueError, match=r"x must have shape \(N, H, W, C\) with C in 1, 3, 4"):
        utils.check_image_shape((2, 8, 8, 2), "x", batch=True)
    assert utils.check_direction("a2b") == "AtoB" == data.paired_source.check_direction("A_to_B")
    with pytest.raises(data.DataError, match="direction must be 'AtoB'"):
        data.paired_source.check_direction("up")
