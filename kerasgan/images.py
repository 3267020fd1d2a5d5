"""Image helpers: [-1, 1] floats to uint8, sample grids, atomic PNG writes."""

import math
import os
import tempfile

import numpy as np


def to_uint8(images):
    """Maps float images in [-1, 1] to uint8 [0, 255] (values outside are clipped)."""
    images = np.asarray(images, dtype="float32")
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype("uint8")


def make_grid(images, nrow=None, padding=2, pad_value=255):
    """Tiles ``(N, H, W, C)`` images into one ``(rows*H', cols*W', C)`` uint8 image.

    Args:
        images: float in [-1, 1] or uint8, NHWC (C = 1, 3 or 4) or NHW.
        nrow: images per row (default: ``ceil(sqrt(N))``).
        padding: pixels between images.
        pad_value: value of the padding pixels.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"expected a non-empty batch of NHWC images, got shape {images.shape}")
    if images.dtype != np.uint8:
        images = to_uint8(images)
    n, h, w, c = images.shape
    ncol = int(nrow) if nrow else int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncol))
    grid = np.full(
        (nrows * (h + padding) + padding, ncol * (w + padding) + padding, c), pad_value, np.uint8
    )
    for i in range(n):
        r, q = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        grid[y : y + h, x : x + w] = images[i]
    return grid


def atomic_write(path, write_fn, suffix=""):
    """Calls ``write_fn(tmp_path)`` then renames the result to ``path``.

    A crash or an exception leaves no half-written file at ``path``.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix or os.path.splitext(path)[1])
    os.close(fd)
    try:
        write_fn(tmp)
        # mkstemp makes 0600 files; give the result the usual umask permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def save_grid(images, path, nrow=None, scale=1):
    """Writes a PNG grid of ``images`` to ``path`` (atomically).

    Args:
        images: NHWC float in [-1, 1] or uint8.
        path: output ``.png`` path.
        nrow: images per row.
        scale: integer upscaling (nearest) for small images.
    """
    from PIL import Image

    grid = make_grid(images, nrow=nrow)
    if grid.shape[-1] == 1:
        grid = grid[..., 0]
    img = Image.fromarray(grid)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))


def bicubic_upscale(images, scale):
    """The bicubic baseline of super-resolution: float NHWC images in [-1, 1]
    up-sampled ×``scale`` with ``tf.image.resize(method="bicubic")``, clipped
    to [-1, 1]; a numpy float32 array."""
    import tensorflow as tf

    from kerasgan.utils import check_int

    scale = check_int(scale, "scale", 2)
    images = tf.convert_to_tensor(np.asarray(images, dtype="float32"))
    size = tf.shape(images)[-3:-1] * scale
    big = tf.image.resize(images, size, method="bicubic")
    return tf.clip_by_value(big, -1.0, 1.0).numpy()


def nearest_upscale(images, scale):
    """Images repeated ``scale`` times along height and width (for display)."""
    images = np.asarray(images, dtype="float32")
    return np.repeat(np.repeat(images, int(scale), axis=-3), int(scale), axis=-2)
