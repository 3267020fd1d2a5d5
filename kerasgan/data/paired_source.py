"""`PairedImageSource`: aligned (input, target) image pairs for image-to-image
translation, and `open_paired()`, the reader of A|B pair files (the format of
the "facades" data set of the paired image-to-image reference code).

The facades format: one file per pair, the two images side by side, ``A`` on the
left and ``B`` on the right (facades: ``A`` = the photo, ``B`` = the label map),
in split folders ``ROOT/train``, ``ROOT/val``, ``ROOT/test``. ``direction``
picks what the network translates: ``"AtoB"`` (left half → right half) or
``"BtoA"`` (right → left). **Facades label map → photo is ``"BtoA"``**, as in
the reference code (``--direction BtoA``).

Images are read by :func:`kerasgan.data.image_io.read_image` and each half is
resized by the one rule of every source (bicubic, antialiased when
shrinking: see :mod:`kerasgan.data.image_io`).

Example:

>>> from kerasgan import data
>>> src = data.open_paired("../shared/data/facades", split="train", direction="BtoA",
...                        resize=128)
>>> ds = src.dataset(4, seed=0, jitter=True, flip=True)
>>> inputs, targets = next(iter(ds))          # label maps, photos; float32 in [-1, 1]
"""

import concurrent.futures
import os

import numpy as np
import tensorflow as tf

from kerasgan import utils
from kerasgan.data import image_io
from kerasgan.data.errors import DataError
from kerasgan.data.source import (ImageDataSource, check_uint8_images, flip_draws,
                                  index_pipeline, shuffled_indices)
from kerasgan.utils import DIRECTIONS  # noqa: F401  (public here too)

#: the reference jitter: resize 256 → 286, then random-crop 256 (scaled for other sizes).
JITTER_RATIO = 286 / 256


def check_direction(direction):
    """``"AtoB"`` or ``"BtoA"`` (:func:`kerasgan.utils.check_direction`), as a
    :class:`~kerasgan.data.DataError`."""
    return utils.check_direction(direction, error=DataError)


def jitter_load_size(size):
    """The size images are resized to before the random crop back to ``size``:
    ``round(size * 286 / 256)`` (286 for 256, 143 for 128, 72 for 64), at least
    ``size + 1`` so that the crop always moves."""
    return max(int(size) + 1, int(round(int(size) * JITTER_RATIO)))


def jitter_parts(stream, n, size, load, first=2):
    """Random crop offsets ``{"dy", "dx"}`` of ``n`` images loaded at ``load``
    and cropped back to ``size`` (``(H, W)`` each), drawn from the seed
    ``stream`` folded with ``first`` and ``first + 1``."""
    parts = {}
    for k, key in enumerate(("dy", "dx")):
        s = tf.random.experimental.stateless_fold_in(stream, first + k)
        parts[key] = tf.random.stateless_uniform(
            [n], seed=s, minval=0, maxval=load[k] - size[k] + 1, dtype=tf.int32)
    return parts


def jitter_batch(x, dy, dx, size, load):
    """Random jitter of a float batch in [-1, 1]: bicubic resize to ``load``,
    then each image cropped back to ``size`` at its ``(dy, dx)``."""
    height, width = size

    def crop(args):
        image, y, x_ = args
        return tf.slice(image, tf.stack([y, x_, 0]), tf.stack([height, width, -1]))

    x = tf.clip_by_value(tf.image.resize(x, load, method="bicubic"), -1.0, 1.0)
    return tf.map_fn(crop, (x, dy, dx),
                     fn_output_signature=tf.TensorSpec((height, width, None), tf.float32))


class PairedImageSource(ImageDataSource):
    """Aligned image pairs in memory: ``inputs[i]`` translates to ``targets[i]``.

    Both are ``uint8`` NHWC arrays with the same ``N``, height and width (the
    channel counts may differ: a 1-channel map to a 3-channel photo).

    Args:
        inputs: ``uint8`` ``(N, H, W, C_in)``.
        targets: ``uint8`` ``(N, H, W, C_out)``.
        name: a name for messages.
        direction: the direction the pairs were read in (recorded only).

    Raises:
        DataError: the arrays are not uint8 NHWC pairs of one size and count.
    """

    example = "pair"

    def __init__(self, inputs, targets, *, name="pairs", direction=None):
        inputs = check_uint8_images(inputs, "paired inputs")
        targets = check_uint8_images(targets, "paired targets")
        if inputs.shape[:3] != targets.shape[:3]:
            raise DataError(
                f"paired inputs {inputs.shape} and targets {targets.shape} must have the same "
                "number of images and the same height and width"
            )
        self.inputs, self.targets = inputs, targets
        self.name = str(name)
        self.direction = direction
        self._cache = None

    def __len__(self):
        return int(self.inputs.shape[0])

    def __repr__(self):
        return (f"<PairedImageSource {self.name}: {len(self)} pairs {self.image_shape} -> "
                f"{self.target_shape}>")

    @property
    def image_shape(self):
        """``(H, W, C)`` of one input image."""
        return tuple(int(d) for d in self.inputs.shape[1:])

    @property
    def target_shape(self):
        """``(H, W, C)`` of one target image."""
        return tuple(int(d) for d in self.targets.shape[1:])

    @property
    def images(self):
        """The target images (what the generator should make), uint8."""
        return self.targets

    def arrays(self, start=0, stop=None):
        """``(inputs, targets)`` float32 in [-1, 1] for pairs ``start:stop``, no jitter."""
        sl = slice(start, stop)
        return (self.inputs[sl].astype("float32") / 127.5 - 1.0,
                self.targets[sl].astype("float32") / 127.5 - 1.0)

    def _tensors(self):
        if self._cache is None:
            with tf.device("/cpu:0"):
                self._cache = (tf.constant(self.inputs), tf.constant(self.targets))
        return self._cache

    def dataset(self, batch_size, *, shuffle=True, seed=None, jitter=False, flip=False,
                drop_remainder=True, repeat=False, start_epoch=0, start_step=0, labels=False):
        """A batched, prefetched ``tf.data.Dataset`` of ``(inputs, targets)``.

        Both are ``float32`` NHWC batches in [-1, 1]. The augmentation of
        the paired reference code is applied **identically to both images of
        a pair**:

        - ``jitter``: resize to :func:`jitter_load_size` (286 for 256) with
          bicubic interpolation (clipped to [-1, 1]), then crop a random
          ``H x W`` window;
        - ``flip``: mirror left-right with probability 0.5.

        Order, crops and flips are a pure function of ``(seed, epoch,
        position)``, with the same epoch semantics (``repeat``,
        ``start_epoch``, ``start_step``) as
        :meth:`kerasgan.data.ImageSource.dataset`, so training resumes exactly.

        Args:
            batch_size: positive int.
            shuffle: shuffle each epoch.
            seed: int seed of order, crops and flips (None: drawn once).
            jitter: random resize-and-crop (see above).
            flip: random mirroring.
            drop_remainder: drop each epoch's last partial batch.
            repeat: an endless dataset of epochs ``start_epoch, start_epoch + 1, ...``.
            start_epoch: index of the first epoch.
            start_step: batches of the first epoch to skip.
            labels: must be False (pairs carry no class labels); accepted so
                that code written for ``ImageSource`` works.

        Raises:
            DataError: an empty source, a bad batch size, ``labels=True``.
        """
        n = len(self)
        self._no_labels(labels)
        batch_size, seed, start_epoch, start_step, steps = self._epoch_arguments(
            batch_size, seed=seed, drop_remainder=drop_remainder, start_epoch=start_epoch,
            start_step=start_step)
        shuffle, jitter, flip = bool(shuffle), bool(jitter), bool(flip)
        inputs_t, targets_t = self._tensors()
        height, width = self.image_shape[:2]
        c_in = self.image_shape[-1]
        load = (jitter_load_size(height), jitter_load_size(width))

        def epoch_parts(pair):
            parts = {"idx": shuffled_indices(pair, n, shuffle)}
            if flip:
                parts["flip"] = flip_draws(pair, n)
            if jitter:
                parts.update(jitter_parts(pair, n, (height, width), load))
            return parts

        def fetch(batch):
            # the two images of a pair are stacked on the channel axis, so one
            # resize, crop and flip moves both alike
            x = tf.concat([tf.gather(inputs_t, batch["idx"]),
                           tf.gather(targets_t, batch["idx"])], axis=-1)
            x = tf.cast(x, tf.float32) / 127.5 - 1.0
            if jitter:
                x = jitter_batch(x, batch["dy"], batch["dx"], (height, width), load)
            if flip:
                x = tf.where(batch["flip"][:, None, None, None], tf.reverse(x, axis=[2]), x)
            return x[..., :c_in], x[..., c_in:]

        return index_pipeline(
            epoch_parts, fetch, n=n, batch_size=batch_size, steps=steps, seed=seed,
            randomised=shuffle or jitter or flip, drop_remainder=bool(drop_remainder),
            repeat=repeat, start_epoch=start_epoch, start_step=start_step)


def split_pair(array, path="image"):
    """The left and right halves of an A|B pair image ``(H, 2W, C)``.

    Raises:
        DataError: the width is odd (not two equal halves); the message names ``path``.
    """
    height, width = array.shape[:2]
    if width % 2 or width < 2:
        raise DataError(
            f"{path} is {width}x{height} pixels: a paired image must be two equal halves side "
            f"by side (A left, B right), so its width must be even; this file is not an A|B pair"
        )
    half = width // 2
    return array[:, :half], array[:, half:]


def _read_pair(path, size, channels):
    array, _ = image_io.read_image(path, channels, what="paired image")
    left, right = split_pair(array, path)
    if size is not None:
        left, right = image_io.resize_image(left, size), image_io.resize_image(right, size)
    return left, right


def open_paired(root, *, split="train", direction="AtoB", resize=None, channels=None,
                limit=None):
    """Reads a folder of A|B pair images (the facades format) into memory.

    Args:
        root: the dataset folder. Its ``split`` subfolder is read when it has
            one (``ROOT/train``, ``ROOT/val``, ``ROOT/test``), else ``root``
            itself. Files: ``*.jpg``, ``*.jpeg``, ``*.png``, ``*.bmp``, read in
            natural order (``2.jpg`` before ``10.jpg``).
        split: the split subfolder.
        direction: ``"AtoB"``: inputs are the left halves, targets the right
            ones; ``"BtoA"``: the other way (facades label map → photo).
        resize: ``(H, W)``, an int or ``"HxW"``: each half is resized (bicubic)
            to it once. Default: the files' own half size (all files must then
            have the same size).
        channels: 1 or 3 (default 3, RGB).
        limit: read only the first ``limit`` files (quick runs).

    Returns:
        A :class:`PairedImageSource` (``inputs``, ``targets`` per ``direction``).

    Raises:
        DataError: a missing or empty folder, an unreadable file, a file that is
            not two equal halves (the message names it), files of different
            sizes without ``resize``, a bad direction.
    """
    direction = check_direction(direction)
    size = image_io.parse_size(resize)
    channels = 3 if channels is None else image_io.check_channels(channels)
    text = os.fspath(root)
    if text.startswith("paired:"):
        text = text[len("paired:"):]
    path = os.path.abspath(os.path.expanduser(text))
    if not os.path.isdir(path):
        raise DataError(f"paired data folder {text!r} not found: pass a folder of A|B images "
                        "(with train/ val/ test/ subfolders, like facades)")
    folder = os.path.join(path, split) if os.path.isdir(os.path.join(path, split)) else path
    files = image_io.image_files(folder)
    if not files:
        subs = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
        raise DataError(f"{folder} holds no A|B images" + (
            f" (split {split!r} not found; subfolders: {', '.join(subs)})" if subs else ""))
    if limit is not None:
        files = files[: utils.check_int(limit, "limit", 1, error=DataError)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        pairs = list(pool.map(lambda f: _read_pair(f, size, channels), files))
    first = pairs[0][0].shape
    for f, p in zip(files, pairs):
        if p[0].shape != first:
            raise DataError(
                f"{f} has halves of {p[0].shape[1]}x{p[0].shape[0]} pixels, {files[0]} of "
                f"{first[1]}x{first[0]}: pass resize= (--resize) to read pairs of different sizes")
    left = np.stack([p[0] for p in pairs])
    right = np.stack([p[1] for p in pairs])
    inputs, targets = (left, right) if direction == "AtoB" else (right, left)
    name = f"{os.path.basename(path.rstrip(os.sep))}:{split}:{direction}"
    return PairedImageSource(inputs, targets, name=name, direction=direction)

