"""Opening data sources: the bundled MNIST, TFDS, IDX files, image folders, `.npz`."""

import concurrent.futures
import difflib
import gzip
import os
import re
import zlib

import numpy as np

from kerasgan.data.errors import DataError
from kerasgan.utils import check_image_shape
from kerasgan.data.image_io import (  # noqa: F401  (IMAGE_EXTENSIONS, rgb_to_gray: public here too)
    IMAGE_EXTENSIONS,
    check_channels,
    convert_channels,
    error_reason,
    is_image_file,
    parse_size,
    read_image,
    resize_image,
    resize_images,
    rgb_to_gray,
)
from kerasgan.data.image_source import ImageSource
from kerasgan.core.tf_step import without_autotune

BUNDLED_MNIST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bundled", "mnist_10k")

_SPLIT_DIR_NAMES = {"train", "test", "val", "valid", "validation"}

_VALID_FORMS = (
    "expected one of: mnist-10k, tfds:NAME[:SPLIT], a folder of IDX files, "
    "an image folder, an IDX images file or a .npz file"
)

_IDX_RE = re.compile(
    r"^(?P<prefix>.*?)(?P<kind>images|labels)[-._]idx(?P<ndim>\d)[-._]ubyte(?P<gz>\.gz)?$",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------- arrays


def to_uint8(array, what):
    """Converts image values to `uint8` 0-255.

    `uint8` is kept; other integer types must be within 0-255; floats are read
    as `[0, 1]` if all values are in `[0, 1]`, else as `[-1, 1]` if they are in
    `[-1, 1]`, else as 0-255 if they are in `[0, 255]`.
    """
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind in "iu":
        if array.size and (array.min() < 0 or array.max() > 255):
            raise DataError(
                f"{what}: integer images must be in 0-255, got {array.min()}..{array.max()}: "
                f"rescale them to uint8 0-255"
            )
        return array.astype(np.uint8)
    if array.dtype.kind == "b":
        return array.astype(np.uint8) * 255
    if array.dtype.kind != "f":
        raise DataError(f"{what}: images must be numeric, got dtype {array.dtype}: save uint8 or float images")
    if array.size == 0:
        return array.astype(np.uint8)
    if not np.all(np.isfinite(array)):
        raise DataError(f"{what}: images contain NaN or infinite values: clean the array first")
    lo, hi = float(array.min()), float(array.max())
    if lo >= 0.0 and hi <= 1.0:
        scaled = array * 255.0
    elif lo >= -1.0 and hi <= 1.0:
        scaled = (array + 1.0) * 127.5
    elif lo >= 0.0 and hi <= 255.0:
        scaled = array
    else:
        raise DataError(
            f"{what}: float images must be in [0, 1], [-1, 1] or [0, 255], got {lo:g}..{hi:g}: rescale them"
        )
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _finish_arrays(images, labels, *, name, resize, channels, num_classes=None, class_names=None):
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim == 4 and images.shape[0] == 0:
        raise DataError(f"{name} holds no images (shape {images.shape}): use a source with at least one image")
    if images.ndim == 4 and (images.shape[1] == 0 or images.shape[2] == 0):
        raise DataError(
            f"{name}: images are {images.shape[1]}x{images.shape[2]} pixels (shape {images.shape}): "
            f"the file is corrupt, or the array's axes are not (N, H, W, C)"
        )
    try:
        check_image_shape(images.shape, "images", batch=True, error=DataError)
    except DataError:
        raise DataError(
            f"{name}: images must have shape (N, H, W) or (N, H, W, C) with C in 1, 3, 4, "
            f"got {images.shape}: reshape the array"
        ) from None
    # Resize on the fewer channels (cheaper): before adding channels, after removing them.
    if channels is not None and channels < images.shape[-1]:
        images = convert_channels(images, channels)
    if resize is not None:
        images = resize_images(images, resize)
    images = convert_channels(images, channels)
    return ImageSource(
        np.ascontiguousarray(images), labels, num_classes=num_classes, class_names=class_names, name=name
    )


# --------------------------------------------------------------------------- IDX


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"could not read {path}: {error_reason(e)}; the file is corrupt or truncated, download it again"
        ) from e
    return raw


def read_idx(path):
    """Reads an IDX file (gzipped or not) into a NumPy array.

    Args:
        path: path to an IDX file, e.g. `train-images-idx3-ubyte.gz`.

    Returns:
        A `uint8` array with the shape stored in the header.

    Raises:
        DataError: if the header is invalid or the data is truncated.
    """
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{path} is not an IDX file (bad magic number): pass an MNIST-style "
            f"*-images-idx3-ubyte[.gz] file"
        )
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != 0x08:
        raise DataError(f"{path}: IDX data type 0x{dtype_code:02x} is not supported, only unsigned byte (0x08)")
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: IDX header is truncated: the file is corrupt, download it again")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(
            f"{path}: IDX file is {what} ({len(raw)} bytes, header says {expected}): "
            f"the file is corrupt, download it again"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _idx_entries(folder):
    """Maps prefix -> {"images": path, "labels": path} for IDX files in `folder`."""
    entries = {}
    for fname in sorted(os.listdir(folder)):
        m = _IDX_RE.match(fname)
        if m and os.path.isfile(os.path.join(folder, fname)):
            slot = entries.setdefault(m.group("prefix"), {})
            slot.setdefault(m.group("kind").lower(), os.path.join(folder, fname))
    return entries


def _prefix_matches(prefix, split):
    p = prefix.strip("-._").lower()
    names = {split.lower()}
    if split.lower() == "test":
        names.add("t10k")
    return p in names or any(p.endswith(sep + s) for s in names for sep in "-._")


def _open_idx(images_path, labels_path, *, name, resize, channels):
    images = read_idx(images_path)
    if images.ndim not in (3, 4):
        raise DataError(
            f"{images_path}: IDX images must be 3-D (N, H, W) or 4-D (N, H, W, C), "
            f"got shape {images.shape}: pass an images file, not a labels file"
        )
    labels = None
    if labels_path is not None:
        labels = read_idx(labels_path)
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise DataError(
                f"{labels_path}: expected {images.shape[0]} labels to match {images_path}, "
                f"got shape {labels.shape}: use the labels file of the same split"
            )
    return _finish_arrays(images, labels, name=name, resize=resize, channels=channels)


def _open_idx_folder(folder, entries, split, *, resize, channels):
    matches = [p for p in entries if "images" in entries[p] and _prefix_matches(p, split)]
    if not matches and [p.strip("-._") for p in entries if "images" in entries[p]] == [""]:
        matches = [p for p in entries if "images" in entries[p]]  # one unprefixed "images-idx3-ubyte"
    found = ", ".join(os.path.basename(e["images"]) for e in entries.values() if "images" in e) or "none"
    if not matches:
        raise DataError(
            f"no {split!r} IDX images in {folder} (found: {found}): pass split='train' or "
            f"split='test' to match the files, or the path of the images file itself"
        )
    if len(matches) > 1:
        raise DataError(
            f"several {split!r} IDX image files in {folder} ({found}): pass the path of the images file itself"
        )
    entry = entries[matches[0]]
    return _open_idx(
        entry["images"], entry.get("labels"), name=f"idx:{folder}", resize=resize, channels=channels
    )


def _open_idx_file(path, *, resize, channels):
    m = _IDX_RE.match(os.path.basename(path))
    if m.group("kind").lower() == "labels":
        raise DataError(
            f"{path} is an IDX labels file: pass the matching *-images-idx3-ubyte file (or its folder)"
        )
    entries = _idx_entries(os.path.dirname(path) or ".")
    labels_path = entries.get(m.group("prefix"), {}).get("labels")
    return _open_idx(path, labels_path, name=f"idx:{path}", resize=resize, channels=channels)


# --------------------------------------------------------------------------- image folders


def _list_images(folder, recursive):
    found = []
    if recursive:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend(os.path.join(root, f) for f in sorted(files) if is_image_file(f))
    else:
        found = [
            os.path.join(folder, f)
            for f in sorted(os.listdir(folder))
            if is_image_file(f) and os.path.isfile(os.path.join(folder, f))
        ]
    return found


def _open_image_folder(folder, split, *, resize, channels):
    subdirs = sorted(
        d for d in os.listdir(folder) if not d.startswith(".") and os.path.isdir(os.path.join(folder, d))
    )
    # ROOT/{train,test,...}/... with no images in ROOT itself: descend into ROOT/<split>.
    if subdirs and set(d.lower() for d in subdirs) <= _SPLIT_DIR_NAMES and not _list_images(folder, False):
        if split not in subdirs:
            raise DataError(
                f"{folder} has split folders {subdirs} but no {split!r}: pass split= one of {subdirs}"
            )
        folder = os.path.join(folder, split)
        subdirs = sorted(
            d for d in os.listdir(folder) if not d.startswith(".") and os.path.isdir(os.path.join(folder, d))
        )

    top = _list_images(folder, recursive=False)
    classes = []
    files = []
    for d in subdirs:
        found = _list_images(os.path.join(folder, d), recursive=True)
        if found:
            classes.append((d, found))
    exts = ", ".join(IMAGE_EXTENSIONS)
    if classes and top:
        raise DataError(
            f"{folder} has images both directly in it ({os.path.basename(top[0])}, ...) and in class "
            f"subfolders: move the loose images into a subfolder or point at a folder with one layout"
        )
    if classes:
        labels_list = []
        for label, (_, found) in enumerate(classes):
            files.extend(found)
            labels_list.extend([label] * len(found))
        labels = np.asarray(labels_list, np.int64)
        class_names = [c for c, _ in classes]
    else:
        files = top
        labels = None
        class_names = None
    if not files:
        raise DataError(
            f"no images found in {folder}: put {exts} files in it or in one subfolder per class"
        )

    images = [None] * len(files)
    first_size = None
    workers = min(8, os.cpu_count() or 1)
    chunk = 256  # files per task: keeps the per-task overhead of the pool small

    def read_chunk(start):
        return [read_image(p, channels, resize) for p in files[start : start + chunk]]

    def results(pool):
        for part in pool.map(read_chunk, range(0, len(files), chunk)):
            yield from part

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            for i, (array, original) in enumerate(results(pool)):
                if resize is None:
                    if first_size is None:
                        first_size = original
                    elif original != first_size:
                        raise DataError(
                            f"images in {folder} have different sizes: {files[0]} is "
                            f"{first_size[0]}x{first_size[1]} but {files[i]} is {original[0]}x{original[1]} "
                            f"(width x height): pass resize=(H, W) / --resize HxW"
                        )
                images[i] = array
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    if channels is None and len({a.shape[-1] for a in images}) > 1:
        images = [np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a for a in images]
    return ImageSource(np.stack(images), labels, class_names=class_names, name=f"folder:{folder}")


# --------------------------------------------------------------------------- .npz


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip member, an empty zip
_NPY_MAGIC = b"\x93NUMPY"


def _open_npz(path, split, *, resize, channels):
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as e:
        raise DataError(f"could not read {path}: {error_reason(e)}") from e
    # np.load would read any other bytes as a pickle and complain about pickled data
    if head.startswith(_NPY_MAGIC):
        raise DataError(
            f"{path} is a .npy file (one array), not a .npz archive: save the images with "
            f"np.savez(path, x=images, y=labels)"
        )
    if not head.startswith(_ZIP_MAGIC):
        what = "is empty" if not head else "is not a .npz archive (no zip header)"
        raise DataError(
            f"{path} {what}: the file is corrupt or not written by np.savez; save it again "
            f"with np.savez(path, x=images, y=labels)"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise DataError(
                f"{path} holds object (pickled) arrays, which kerasgan does not load: save "
                f"numeric arrays (uint8 or float images, integer labels) with np.savez"
            ) from e
        raise DataError(
            f"could not read {path}: {error_reason(e)}; the file is truncated or corrupt, save it "
            f"again with np.savez"
        ) from e
    except Exception as e:
        raise DataError(
            f"could not read {path}: {error_reason(e)}; the file is truncated or corrupt, save it "
            f"again with np.savez"
        ) from e

    def pick(candidates):
        for key in candidates:
            if key in arrays:
                return key
        return None

    image_key = pick(["x", "images", "image", f"x_{split}", f"images_{split}"])
    if image_key is None and len(arrays) == 1:
        image_key = next(iter(arrays))
    if image_key is None:
        raise DataError(
            f"{path}: no images array found (keys: {', '.join(arrays) or 'none'}): "
            f"store the images under 'x' or 'images'"
        )
    label_key = pick(["y", "labels", "label", f"y_{split}", f"labels_{split}"])
    images = to_uint8(arrays[image_key], f"{path}[{image_key!r}]")
    labels = arrays[label_key] if label_key is not None else None
    if images.shape[0:1] == (0,):
        raise DataError(f"{path}: the images array {image_key!r} is empty: store at least one image")
    return _finish_arrays(images, labels, name=f"npz:{path}", resize=resize, channels=channels)


# --------------------------------------------------------------------------- TFDS


def source_text(source, split, forms):
    """``source`` (a string or path) as a non-empty string, with ``split``
    checked; ``forms`` says what a source may be (image and text sources).

    Raises:
        DataError: another type, an empty string, or a bad split.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(f"data source must be a string or path, got {type(source).__name__}: {forms}")
    text = os.fspath(source)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip():
        # "" would otherwise resolve to the current folder and open it as an image folder
        raise DataError(f"data source {text!r} is empty: {forms}")
    if not isinstance(split, str) or not split:
        raise DataError(f"split must be a non-empty string, got {split!r}: pass e.g. split='train'")
    return text


def parse_tfds(spec, split, examples="'tfds:mnist' or 'tfds:cifar10:test'"):
    """``(name, split)`` of ``tfds:NAME[:VERSION][:SPLIT]`` (``spec`` without
    ``tfds:``); a split given in ``spec`` wins over ``split``.

    Raises:
        DataError: no dataset name.
    """
    parts = spec.split(":")
    name = parts[0].strip()
    rest = parts[1:]
    if rest and re.fullmatch(r"\d+(\.(\d+|\*)){0,2}", rest[0]):  # tfds:NAME:VERSION[:SPLIT]
        name = f"{name}:{rest[0]}"
        rest = rest[1:]
    if rest:
        split = ":".join(rest)  # a split like "train[:10%]" may contain ':'
    if not name:
        raise DataError(f"'tfds:{spec}' has no dataset name: pass e.g. {examples}")
    return name, split


def tfds_builder(name, data_dir=None):
    """The prepared TFDS builder of ``name`` (image and text sources).

    Raises:
        DataError: an unknown name (with close matches), or a data set that
            cannot be prepared here (no network).
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        base = name.split(":")[0].split("/")[0]
        try:
            close = difflib.get_close_matches(base, tfds.list_builders(), n=3)
        except Exception:
            close = []
        hint = f" (did you mean {', '.join('tfds:' + c for c in close)}?)" if close else ""
        raise DataError(
            f"unknown TFDS dataset {name!r}{hint}: see the names with `tfds.list_builders()` "
            f"or https://www.tensorflow.org/datasets/catalog"
        ) from None
    except Exception as e:
        raise DataError(
            f"could not open TFDS dataset {name!r}: {error_reason(e)}; check the name, config and version"
        ) from e

    try:
        builder.download_and_prepare()
    except Exception as e:
        raise DataError(
            f"could not download/prepare TFDS dataset {name!r} (no network?): {error_reason(e)}; "
            f"prepare it with `tfds build {name.split(':')[0]}` on a machine with network and copy it "
            f"(pass data_dir=) or use a local source"
        ) from e
    return builder


def _open_tfds(spec, split, *, resize, channels, data_dir):
    name, split = parse_tfds(spec, split)

    import tensorflow as tf
    import tensorflow_datasets as tfds

    builder = tfds_builder(name, data_dir)

    features = builder.info.features
    image_keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    if "image" in features:
        image_key = "image"
    elif len(image_keys) == 1:
        image_key = image_keys[0]
    else:
        raise DataError(
            f"TFDS dataset {name!r} has no single 'image' feature (features: {', '.join(features)}): "
            f"use a dataset with one image feature"
        )
    label_feature = features["label"] if "label" in features else None
    use_labels = label_feature is not None and isinstance(label_feature, tfds.features.ClassLabel)
    image_shape = features[image_key].shape
    if any(d is None for d in image_shape[:2]) and resize is None:
        raise DataError(
            f"TFDS dataset {name!r} has images of varying sizes: pass resize=(H, W) / --resize HxW"
        )

    try:
        ds = builder.as_dataset(split=split, shuffle_files=False)
    except (ValueError, KeyError) as e:
        raise DataError(
            f"could not read split {split!r} of TFDS dataset {name!r}: {error_reason(e)}; "
            f"pass an existing split (e.g. 'train', 'test', 'train[:10%]')"
        ) from None

    def select(example):
        x = example[image_key]
        if x.shape.rank == 2:
            x = x[..., tf.newaxis]
        if x.dtype != tf.uint8:
            x = tf.cast(tf.clip_by_value(tf.cast(x, tf.float32), 0.0, 255.0), tf.uint8)
        if use_labels:
            return x, tf.cast(example["label"], tf.int64)
        return (x,)

    # Images of varying sizes are resized one by one as they are read (by the one
    # rule of kerasgan.data.image_io); others are batched, and resized at the end.
    varying = any(d is None for d in image_shape[:2])
    ds = ds.map(select, num_parallel_calls=tf.data.AUTOTUNE)
    ds = without_autotune((ds if varying else ds.batch(4096)).prefetch(2))
    image_chunks, label_chunks = [], []
    try:
        for batch in tfds.as_numpy(ds):
            if varying:
                batch = (resize_image(batch[0], resize)[np.newaxis],) + tuple(
                    np.asarray(b)[np.newaxis] for b in batch[1:])
            image_chunks.append(batch[0])
            if use_labels:
                label_chunks.append(batch[1])
    except Exception as e:
        raise DataError(
            f"could not read TFDS dataset {name!r} split {split!r}: {error_reason(e)}; rebuild it with `tfds build`"
        ) from e
    if not image_chunks:
        raise DataError(f"TFDS dataset {name!r} split {split!r} is empty: pass another split")
    images = np.concatenate(image_chunks)
    labels = np.concatenate(label_chunks) if use_labels else None
    return _finish_arrays(
        images,
        labels,
        name=f"tfds:{name}:{split}",
        resize=resize,
        channels=channels,
        num_classes=label_feature.num_classes if use_labels else None,
        class_names=list(label_feature.names) if use_labels else None,
    )


# --------------------------------------------------------------------------- entry points


def open_source(source, *, split="train", resize=None, channels=None, data_dir=None):
    """Opens a data source and decodes all its images into memory.

    Sources (`source` is a string or path):

    - `"mnist-10k"`: the bundled MNIST *test* split (10,000 28x28x1 digits,
      labels 0-9), works offline. `split` is ignored.
    - `"tfds:NAME"`, `"tfds:NAME:SPLIT"` (also `"tfds:NAME:VERSION:SPLIT"`):
      a TensorFlow Datasets dataset (its `image` feature, and `label` when it is
      a class label), read fully into memory. It must be downloadable or
      already prepared in `data_dir`.
    - A folder of IDX files, `train-images-idx3-ubyte[.gz]` +
      `train-labels-idx1-ubyte[.gz]` (`split="train"`) or `t10k-*` / `test-*`
      (`split="test"`); or the path of an `*-images-idx3-ubyte[.gz]` file
      (its labels file, found by name next to it, is optional).
    - An image folder, `ROOT/<class>/**/*.{png,jpg,jpeg,bmp}` (labels are the
      class subfolders in sorted order) or `ROOT/*.png...` (no labels). If
      `ROOT` only holds split folders (`train`, `test`, `val`, ...), the
      `split` one is used.
    - A `.npz` file: images under `"x"` or `"images"` (or `"x_<split>"`, or the
      only array), labels under `"y"` or `"labels"` (or `"y_<split>"`),
      optional. Images may be `uint8` 0-255, or float: read as `[0, 1]` if all
      values are in `[0, 1]`, else `[-1, 1]`, else `[0, 255]`. Shape
      `(N, H, W)` or `(N, H, W, C)` with `C` in 1, 3, 4.

    Image folders with both grayscale and color images become RGB unless
    `channels` is given; RGBA images in folders become RGB (alpha dropped).

    Args:
        source: one of the forms above (an `ImageSource` is also accepted:
            it is returned as is, or resized/converted if asked).
        split: split to read for TFDS, IDX folders, split folders and `.npz`.
        resize: `(H, W)`, an int (square) or `"HxW"`; images are resized once,
            by the one rule of every source (bicubic, antialiased when
            shrinking, rounded to `uint8`: see `kerasgan.data.image_io`).
        channels: 1 (grayscale, ITU-R 601-2 luma as PIL "L") or 3 (RGB;
            grayscale is repeated). `None` keeps the source's channels.
        data_dir: TFDS data directory (only for `tfds:` sources).

    Returns:
        An `ImageSource`.

    Raises:
        DataError: the source is missing, unknown, unreadable, corrupt, empty,
            has images of mixed sizes without `resize`, or an option is invalid.

    Example:

    >>> from kerasgan import data
    >>> src = data.open_source("mnist-10k", resize=32, channels=3)
    >>> len(src), src.image_shape, src.num_classes
    (10000, (32, 32, 3), 10)
    """
    resize = parse_size(resize)
    channels = check_channels(channels)
    if isinstance(source, ImageSource):
        if resize is None and channels is None:
            return source
        return _finish_arrays(
            source.images,
            source.labels,
            name=source.name,
            resize=resize,
            channels=channels,
            num_classes=source.num_classes,
            class_names=source.class_names,
        )
    text = source_text(source, split, _VALID_FORMS)

    if text == "mnist-10k":
        src = _open_idx(
            os.path.join(BUNDLED_MNIST_DIR, "t10k-images-idx3-ubyte.gz"),
            os.path.join(BUNDLED_MNIST_DIR, "t10k-labels-idx1-ubyte.gz"),
            name="mnist-10k",
            resize=resize,
            channels=channels,
        )
        src.num_classes = 10
        src.class_names = [str(i) for i in range(10)]
        return src
    if text.startswith("tfds:"):
        return _open_tfds(text[len("tfds:") :], split, resize=resize, channels=channels, data_dir=data_dir)

    path = os.path.abspath(os.path.expanduser(text))
    if os.path.isdir(path):
        entries = _idx_entries(path)
        if any("images" in e for e in entries.values()):
            return _open_idx_folder(path, entries, split, resize=resize, channels=channels)
        return _open_image_folder(path, split, resize=resize, channels=channels)
    if os.path.isfile(path):
        base = os.path.basename(path)
        if _IDX_RE.match(base):
            return _open_idx_file(path, resize=resize, channels=channels)
        if base.lower().endswith(".npz"):
            return _open_npz(path, split, resize=resize, channels=channels)
        if base.lower().endswith(IMAGE_EXTENSIONS):
            raise DataError(
                f"{text} is a single image: pass the folder that holds the images ({os.path.dirname(path)})"
            )
        raise DataError(f"data source {text!r} is a file of unknown type: {_VALID_FORMS}")
    if os.path.exists(path):
        raise DataError(f"data source {text!r} is neither a file nor a folder: {_VALID_FORMS}")

    looks_like_path = (
        os.sep in text or "/" in text or (os.altsep and os.altsep in text) or text.startswith(("~", "."))
        or "." in os.path.basename(text)
    )
    if looks_like_path:
        raise DataError(f"data source {text!r} not found: no such file or folder; {_VALID_FORMS}")
    hint = f" (for the TFDS dataset, use 'tfds:{text}')" if re.fullmatch(r"[a-z0-9_]+", text) else ""
    raise DataError(f"data source {text!r} not found: not a known name or an existing path{hint}; {_VALID_FORMS}")


def load(
    source,
    batch_size=128,
    *,
    labels=False,
    split="train",
    resize=None,
    channels=None,
    shuffle=True,
    seed=None,
    flip=False,
    drop_remainder=True,
    repeat=False,
    start_epoch=0,
    data_dir=None,
):
    """Opens a data source and returns a batched `tf.data.Dataset` of it.

    Same as `open_source(source, split=..., resize=..., channels=...,
    data_dir=...).dataset(batch_size, labels=..., ...)`: see
    `open_source()` for the sources and options, and `ImageSource.dataset()`
    for the pipeline, shuffling and resume semantics.

    Args:
        source: `"mnist-10k"`, `"tfds:NAME[:SPLIT]"`, an IDX folder or file,
            an image folder, or a `.npz` file.
        batch_size: positive int.
        labels: yield `(images, int32 labels)` tuples.
        split: split to read (TFDS, IDX folders, split folders, `.npz`).
        resize: `(H, W)`, an int or `"HxW"`.
        channels: 1, 3 or `None`.
        shuffle: shuffle each epoch.
        seed: int seed of shuffling and flips, or `None` (random).
        flip: random horizontal flips.
        drop_remainder: drop each epoch's last partial batch.
        repeat: endless dataset of epochs `start_epoch`, `start_epoch + 1`, ...
        start_epoch: first epoch index (for exact resume).
        data_dir: TFDS data directory.

    Returns:
        A `tf.data.Dataset` of `float32` NHWC batches in `[-1, 1]` (with
        `int32` labels if `labels=True`).

    Raises:
        DataError: for any bad source or option (see `open_source()` and
            `ImageSource.dataset()`).

    Example:

    >>> from kerasgan import data
    >>> ds = data.load("mnist-10k", batch_size=32, seed=0)
    >>> next(iter(ds)).shape
    TensorShape([32, 28, 28, 1])
    """
    src = open_source(source, split=split, resize=resize, channels=channels, data_dir=data_dir)
    return src.dataset(
        batch_size,
        labels=labels,
        shuffle=shuffle,
        seed=seed,
        flip=flip,
        drop_remainder=drop_remainder,
        repeat=repeat,
        start_epoch=start_epoch,
    )
