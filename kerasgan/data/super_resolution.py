"""`SuperResolutionSource`: (low-res, high-res) pairs for super-resolution,
the low-res images made in the pipeline from high-res ones.

The degradation is **bicubic ×scale down-sampling**, exactly::

    lr = clip(tf.image.resize(hr, (H // scale, W // scale), method="bicubic",
                              antialias=True), -1, 1)

on float32 images in [-1, 1] (``hr = uint8 / 127.5 - 1``), i.e. Keys' cubic
kernel (a = -0.5) widened by ``scale`` (antialiasing), as MATLAB's
``imresize`` does; the low-res images stay float (no rounding to uint8). The
bicubic baseline up-samples back with ``tf.image.resize(lr, (H, W),
method="bicubic")`` (antialiasing has no effect when up-sampling), clipped to
[-1, 1]: :func:`bicubic_upscale`. This is the resampling rule of every source
(:mod:`kerasgan.data.image_io`: bicubic, antialiased when shrinking), on
floats.

High-res images come from any :func:`kerasgan.data.open_source` source (an
image folder such as the extracted CIFAR-10 ``train/<class>/*.jpg``, a
``.npz``, ...) or from the targets of a paired source (``"paired:FOLDER"``:
facades photos). Heights and widths must be multiples of ``scale``.

Example:

>>> from kerasgan import data
>>> src = data.open_super_resolution("cifar10/train", scale=4)   # 32x32 -> 8x8
>>> lr, hr = next(iter(src.dataset(16, seed=0, flip=True)))     # (16, 8, 8, 3), (16, 32, 32, 3)
"""

import numpy as np
import tensorflow as tf

from kerasgan import images as images_lib
from kerasgan.images import nearest_upscale  # noqa: F401  (re-exported)
from kerasgan import utils
from kerasgan.data.errors import DataError
from kerasgan.data.image_source import ImageSource
from kerasgan.data.source import ImageDataSource, check_uint8_images


def _check_scale(scale):
    return utils.check_int(scale, "scale", 2, error=DataError)


def downscale(images, scale):
    """Bicubic ×``scale`` down-sampling with antialiasing of float NHWC images
    in [-1, 1] (see the module docstring); returns a float32 tensor clipped to
    [-1, 1].

    Raises:
        DataError: a height or width that is not a multiple of ``scale``.
    """
    scale = _check_scale(scale)
    images = tf.convert_to_tensor(images, tf.float32)
    height, width = images.shape[-3], images.shape[-2]
    if height is not None and width is not None and (height % scale or width % scale):
        raise DataError(f"images of {height}x{width} cannot be down-sampled x{scale}: their "
                        f"height and width must be multiples of {scale} (resize or crop them)")
    size = tf.shape(images)[-3:-1] // scale
    small = tf.image.resize(images, size, method="bicubic", antialias=True)
    return tf.clip_by_value(small, -1.0, 1.0)


def bicubic_upscale(images, scale):
    """:func:`kerasgan.images.bicubic_upscale`, with a :class:`DataError` for
    a bad ``scale``."""
    return images_lib.bicubic_upscale(images, _check_scale(scale))


class SuperResolutionSource(ImageDataSource):
    """High-res images in memory; batches are ``(lr, hr)`` pairs with ``lr``
    made by :func:`downscale`.

    It has the interface of :class:`kerasgan.data.PairedImageSource` that
    training, sampling and evaluation use: ``image_shape`` (the low-res input
    size), ``target_shape`` (high-res), ``arrays``, ``dataset``, ``images``,
    ``num_batches``, and ``scale``.

    Args:
        images: ``uint8`` ``(N, H, W, C)`` high-res images, an
            :class:`kerasgan.data.ImageSource`, or a
            :class:`kerasgan.data.PairedImageSource` (its targets).
        scale: the down-sampling factor (4).
        name: a name for messages.

    Raises:
        DataError: not uint8 NHWC, or a size that is not a multiple of ``scale``.
    """

    direction = None
    example = "image"

    def __init__(self, images, scale=4, *, name="super-resolution"):
        if isinstance(images, ImageSource):
            name = images.name if name == "super-resolution" else name
            images = images.images
        elif hasattr(images, "targets"):  # a PairedImageSource: its target images
            name = images.name if name == "super-resolution" else name
            images = images.targets
        images = check_uint8_images(images, "high-res images")
        self.scale = _check_scale(scale)
        height, width = images.shape[1:3]
        if height % self.scale or width % self.scale:
            raise DataError(
                f"{name}: images of {height}x{width} cannot be down-sampled x{self.scale}: "
                f"resize them to multiples of {self.scale} (--resize)")
        self.hr = images
        self.name = str(name)

    def __len__(self):
        return int(self.hr.shape[0])

    def __repr__(self):
        return (f"<SuperResolutionSource {self.name}: {len(self)} pairs {self.image_shape} -> "
                f"{self.target_shape} (bicubic x{self.scale})>")

    @property
    def target_shape(self):
        """``(H, W, C)`` of one high-res image."""
        return tuple(int(d) for d in self.hr.shape[1:])

    @property
    def image_shape(self):
        """``(H / scale, W / scale, C)`` of one low-res (input) image."""
        h, w, c = self.target_shape
        return (h // self.scale, w // self.scale, c)

    @property
    def images(self):
        """The high-res images (what the generator should make), uint8."""
        return self.hr

    @property
    def targets(self):
        return self.hr

    def arrays(self, start=0, stop=None):
        """``(lr, hr)`` float32 in [-1, 1] for images ``start:stop``, no flips."""
        hr = self.hr[slice(start, stop)].astype("float32") / 127.5 - 1.0
        return downscale(hr, self.scale).numpy(), hr

    def dataset(self, batch_size, *, shuffle=True, seed=None, flip=False, drop_remainder=True,
                repeat=False, start_epoch=0, start_step=0, labels=False, jitter=False):
        """A batched, prefetched ``tf.data.Dataset`` of ``(lr, hr)`` float32
        batches in [-1, 1]: the high-res batches of
        :meth:`kerasgan.data.ImageSource.dataset` (same order, flips, epoch
        and resume semantics), each down-sampled by :func:`downscale` after
        the flip.

        Raises:
            DataError: ``labels=True`` or ``jitter=True`` (not supported), a
                bad batch size.
        """
        self._no_labels(labels)
        if jitter:
            raise DataError("jitter (resize-and-crop) is for paired and unpaired image sources; "
                            "super-resolution pairs take flips only")
        base = ImageSource(self.hr, name=self.name)
        ds = base.dataset(batch_size, shuffle=shuffle, seed=seed, flip=flip,
                          drop_remainder=drop_remainder, repeat=repeat,
                          start_epoch=start_epoch, start_step=start_step)
        scale = self.scale
        return ds.map(lambda hr: (downscale(hr, scale), hr),
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def open_super_resolution(source, *, scale=4, split="train", resize=None, channels=None,
                          limit=None):
    """High-res images for super-resolution, as a :class:`SuperResolutionSource`.

    Args:
        source: anything :func:`kerasgan.data.open_source` opens (an image
            folder: the extracted CIFAR-10 tarball's ``train`` / ``test``, or
            its root with ``split``), or ``"paired:FOLDER"``: the targets of
            :func:`kerasgan.data.open_paired` (e.g. facades photos with
            ``direction="BtoA"``).
        scale: the down-sampling factor (4).
        split: the split to read.
        resize: resize the high-res images once (see ``open_source``).
        channels: 1 or 3.
        limit: keep only the first ``limit`` images.

    Raises:
        DataError: as ``open_source`` / ``open_paired``; a size that is not a
            multiple of ``scale``.
    """
    from kerasgan.data.paired_source import open_paired
    from kerasgan.data.sources import open_source

    text = str(source)
    if text.startswith("paired:"):
        pairs = open_paired(text[len("paired:"):], split=split, direction="BtoA", resize=resize,
                            channels=channels, limit=limit)
        return SuperResolutionSource(pairs.targets, scale, name=f"{pairs.name}:photos")
    src = open_source(source, split=split, resize=resize, channels=channels)
    images = src.images
    if limit is not None:
        images = images[: utils.check_int(limit, "limit", 1, error=DataError)]
    return SuperResolutionSource(images, scale, name=src.name)


__all__ = ["SuperResolutionSource", "open_super_resolution", "downscale", "bicubic_upscale",
           "nearest_upscale"]
