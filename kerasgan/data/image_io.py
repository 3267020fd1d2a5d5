"""The one image reader and the one resizer of every data source.

Every source (image folders, IDX and ``.npz`` arrays, TFDS, A|B pair files,
unpaired domains, super-resolution targets) decodes files with
:func:`read_image` and resizes with :func:`resize_image` /
:func:`resize_images`, so ``resize=`` (``--resize``) means the same thing
whatever the data is.

Resizing, the one rule: **bicubic** (Keys' cubic, ``a = -0.5``), **antialiased
when shrinking** (the kernel is widened by the scale factor, so every source
pixel contributes, as MATLAB's ``imresize`` does), each channel on its own,
then rounded to ``uint8``. It is PIL's ``Image.resize(size, Image.BICUBIC)``
on each ``uint8`` image, done once when the source is opened. The same kernel
makes the in-pipeline float resizes: the random jitter's enlargement and the
super-resolution low-res images (``tf.image.resize(..., "bicubic",
antialias=True)``). Images already at the size are left untouched, so sources
opened without ``resize`` (the bundled ``mnist-10k``, the zoo's recipes) read
exactly their stored pixels.

Example:

>>> import numpy as np
>>> from kerasgan.data import image_io
>>> image_io.resize_images(np.zeros((2, 28, 28, 1), np.uint8), image_io.parse_size("32")).shape
(2, 32, 32, 1)
"""

import concurrent.futures
import os
import re

import numpy as np

from kerasgan import utils
from kerasgan.data.errors import DataError

#: file name endings read as images
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")

#: PIL modes read as one-channel (grayscale) images
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})

_SIZE_HELP = "pass resize=(H, W), an int, or 'HxW'"


def error_reason(e, limit=200):
    """``"Type: first line of the message"`` of an exception, for one-line errors."""
    text = str(e).strip()
    line = text.splitlines()[0][:limit] if text else ""
    return f"{type(e).__name__}: {line}" if line else type(e).__name__


# --------------------------------------------------------------------------- options


def parse_size(resize):
    """The ``resize`` option as ``None`` or ``(H, W)``: an int (square), a pair,
    or a ``"HxW"`` / ``"H,W"`` / ``"S"`` string.

    Raises:
        DataError: anything else, or a size below 1.
    """
    if resize is None:
        return None
    value = resize
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*(?:[xX,]\s*(\d+))?\s*", value)
        if not m:
            raise DataError(f"resize {resize!r} is not understood: {_SIZE_HELP}")
        value = (int(m.group(1)), int(m.group(2) or m.group(1)))
    if utils.is_int(value):
        value = (value, value)
    try:
        h, w = value
    except (TypeError, ValueError):
        raise DataError(f"resize {resize!r} is not understood: {_SIZE_HELP}") from None
    for d in (h, w):
        if not utils.is_int(d) or d < 1:
            raise DataError(f"resize {resize!r} must be two positive ints: pass resize=(H, W), "
                            "e.g. (64, 64)")
    return int(h), int(w)


def check_channels(channels):
    """The ``channels`` option: ``None`` (keep), 1 (grayscale) or 3 (RGB).

    Raises:
        DataError: anything else.
    """
    if channels is None:
        return None
    return utils.check_choice(channels, "channels", (1, 3), error=DataError)


# --------------------------------------------------------------------------- channels


def rgb_to_gray(images):
    """ITU-R 601-2 luma of `uint8` RGB(A) images, rounded exactly as PIL's "L".

    Args:
        images: `uint8` array `(..., C)` with `C` 3 or 4 (alpha is ignored).

    Returns:
        `uint8` array `(..., 1)`.
    """
    rgb = images[..., :3].astype(np.uint32)
    luma = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
    return luma.astype(np.uint8)[..., np.newaxis]


def convert_channels(images, channels):
    """Converts `uint8` NHWC images to `channels` (1 or 3); `None` keeps them."""
    c = images.shape[-1]
    if channels is None or c == channels:
        return images
    if channels == 1:
        return rgb_to_gray(images)
    if c == 1:
        return np.repeat(images, 3, axis=-1)
    return np.ascontiguousarray(images[..., :3])  # RGBA -> RGB: drop alpha


# --------------------------------------------------------------------------- resizing


def _channel_groups(c):
    """Slices of channels resized together: RGB as one PIL image, others alone
    (so RGBA is never premultiplied: every channel is resized independently)."""
    if c >= 3:
        return [slice(0, 3)] + [slice(i, i + 1) for i in range(3, c)]
    return [slice(i, i + 1) for i in range(c)]


def resize_image(image, size):
    """Resizes one `uint8` ``(H, W, C)`` image to ``size = (H', W')`` by the
    module's rule (bicubic, antialiased when shrinking, rounded to `uint8`).

    An image already of that size is returned as is.
    """
    from PIL import Image

    height, width = int(size[0]), int(size[1])
    if image.shape[:2] == (height, width):
        return image
    out = np.empty((height, width, image.shape[-1]), np.uint8)
    for group in _channel_groups(image.shape[-1]):
        part = image[..., group]
        part = np.ascontiguousarray(part[..., 0] if part.shape[-1] == 1 else part)
        resized = Image.fromarray(part).resize((width, height), Image.Resampling.BICUBIC)
        array = np.asarray(resized, dtype=np.uint8)
        out[..., group] = array[..., None] if array.ndim == 2 else array
    return out


def resize_images(images, size, workers=None):
    """Resizes `uint8` NHWC images to ``size = (H, W)`` by the module's rule,
    one :func:`resize_image` per image (on a few threads); images already of
    that size are returned as is."""
    size = (int(size[0]), int(size[1]))
    if images.shape[1:3] == size:
        return images
    out = np.empty((images.shape[0], size[0], size[1], images.shape[3]), np.uint8)
    chunk = 512

    def run(start):
        for i in range(start, min(start + chunk, len(images))):
            out[i] = resize_image(images[i], size)

    workers = workers or min(4, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, range(0, len(images), chunk)))
    return out


# --------------------------------------------------------------------------- files


def is_image_file(name):
    """Whether a file name is an image kerasgan reads (not hidden, a known ending)."""
    name = os.path.basename(name)
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def natural_key(name):
    """Sort key that puts ``2.jpg`` before ``10.jpg`` (numeric stems first)."""
    stem = os.path.splitext(os.path.basename(name))[0]
    return (0, int(stem), name) if stem.isdigit() else (1, 0, name)


def image_files(folder):
    """The image files directly in ``folder``, in natural order (paths)."""
    names = [f for f in os.listdir(folder)
             if is_image_file(f) and os.path.isfile(os.path.join(folder, f))]
    return [os.path.join(folder, f) for f in sorted(names, key=natural_key)]


def file_channels(path):
    """1 for a grayscale file (see :data:`GRAY_MODES`), else 3.

    Raises:
        DataError: the file cannot be read.
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            return 1 if img.mode in GRAY_MODES else 3
    except Exception as e:  # PIL raises many types for bad files
        raise DataError(f"could not read image {path}: {error_reason(e)}; delete or replace "
                        "this file") from e


def read_image(path, channels=None, size=None, what="image"):
    """Decodes one image file to a `uint8` ``(H, W, C)`` array.

    Args:
        path: the file.
        channels: 1 (grayscale, ITU-R 601-2 luma as PIL "L") or 3 (RGB;
            alpha dropped, a transparent palette read through RGBA); None: 1
            for a grayscale file (:data:`GRAY_MODES`), else 3. 16-bit images
            keep their high byte.
        size: ``(H, W)`` to resize to by the module's rule, or None.
        what: what the file is, in messages (``"image"``, ``"paired image"``).

    Returns:
        ``(array, (width, height))``: the image and the file's own size.

    Raises:
        DataError: the file cannot be decoded (the message names it).
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            original = img.size
            mode = img.mode
            target = channels if channels is not None else (1 if mode in GRAY_MODES else 3)
            if mode.startswith("I;16"):
                img = Image.fromarray((np.asarray(img).astype(np.uint32) >> 8).astype(np.uint8))
            elif target == 1 and mode in ("I", "F"):
                img = Image.fromarray(np.clip(np.asarray(img), 0, 255).astype(np.uint8))
            elif target != 1 and mode == "P" and "transparency" in img.info:
                img = img.convert("RGBA")
            array = np.asarray(img.convert("L" if target == 1 else "RGB"), dtype=np.uint8)
    except Exception as e:  # PIL raises many types for bad files
        raise DataError(
            f"could not read {what} {path}: {error_reason(e)}; delete or replace this file"
        ) from e
    if array.ndim == 2:
        array = array[..., np.newaxis]
    if size is not None:
        array = resize_image(array, size)
    return array, original


__all__ = ["IMAGE_EXTENSIONS", "GRAY_MODES", "parse_size", "check_channels", "rgb_to_gray",
           "convert_channels", "resize_image", "resize_images", "is_image_file", "natural_key",
           "image_files", "file_channels", "read_image", "error_reason"]
