"""`UnpairedImageSource`: two image domains for unpaired image-to-image
translation, and `open_unpaired()`, which reads them from two image folders, a
``trainA``/``trainB`` folder (the layout of the unpaired reference data sets),
or the two halves of an A|B pair folder (the facades format) used as two
unpaired domains.

Each domain is shuffled with its own seed (derived from the one seed, the
epoch and the domain), jittered and flipped on its own, and the two are zipped:
batch ``i`` is ``(a_batch, b_batch)`` with no relation between the two. An
epoch is ``max(len(A), len(B))`` examples; the shorter domain cycles through
its own shuffled order (as the unpaired reference code's ``max(A_size,
B_size)``). Images are read and resized by :mod:`kerasgan.data.image_io` (the
one rule of every source: bicubic, antialiased when shrinking).

Example:

>>> from kerasgan import data
>>> src = data.open_unpaired("../shared/data/facades", resize=128)   # photos | label maps
>>> a, b = next(iter(src.dataset(1, seed=0, jitter=True, flip=True)))
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
from kerasgan.data.paired_source import jitter_batch, jitter_load_size, jitter_parts, open_paired

#: stateless-seed offsets of the two domains' streams (order, flips, crops).
_DOMAIN_STREAMS = {"A": 10, "B": 20}


class UnpairedImageSource(ImageDataSource):
    """Two unaligned image domains in memory.

    Args:
        a: ``uint8`` ``(N_A, H, W, C)``, domain A.
        b: ``uint8`` ``(N_B, H, W, C)``, domain B (its own count; the same
            height, width and channels as A).
        name: a name for messages.
        aligned: True when ``a[i]`` and ``b[i]`` happen to be a pair (the two
            halves of facades files): sample grids may then show ``b[i]`` as
            the target of ``a[i]``. Training never uses the alignment.
        names: names of the two domains, for messages.

    Raises:
        DataError: the arrays are not uint8 NHWC, or the domains differ in
            size or in channel count (the message names both).
    """

    def __init__(self, a, b, *, name="unpaired", aligned=False, names=("A", "B")):
        a = check_uint8_images(a, f"domain {names[0]}")
        b = check_uint8_images(b, f"domain {names[1]}")
        if a.shape[-1] != b.shape[-1]:
            raise DataError(
                f"the two domains have different channel counts: {names[0]} has "
                f"{a.shape[-1]} ({a.shape[1]}x{a.shape[2]}x{a.shape[-1]}), {names[1]} has "
                f"{b.shape[-1]}: unpaired translation goes both ways, so both domains need "
                "the same channels; read them with channels=1 or channels=3 (--channels)")
        if a.shape[1:3] != b.shape[1:3]:
            raise DataError(
                f"the two domains have different image sizes: {names[0]} "
                f"{a.shape[2]}x{a.shape[1]}, {names[1]} {b.shape[2]}x{b.shape[1]}: pass resize=")
        self.a, self.b = a, b
        self.name = str(name)
        self.aligned = bool(aligned)
        self.domain_names = tuple(str(n) for n in names)
        self._cache = None

    def __len__(self):
        """Examples per epoch: ``max(len(A), len(B))``."""
        return max(int(self.a.shape[0]), int(self.b.shape[0]))

    def _size_text(self, n):
        return f"{n} images per epoch"

    def __repr__(self):
        return (f"<UnpairedImageSource {self.name}: {len(self.a)} A + {len(self.b)} B images "
                f"{self.image_shape}>")

    @property
    def image_shape(self):
        """``(H, W, C)`` of one image (both domains)."""
        return tuple(int(d) for d in self.a.shape[1:])

    @property
    def images(self):
        """Domain B's images (what ``G_AB`` should make), uint8."""
        return self.b

    def arrays(self, start=0, stop=None):
        """``(a, b)`` float32 in [-1, 1] for images ``start:stop`` of each
        domain, in file order, no jitter (``b[i]`` is ``a[i]``'s pair only when
        :attr:`aligned`)."""
        sl = slice(start, stop)
        return (self.a[sl].astype("float32") / 127.5 - 1.0,
                self.b[sl].astype("float32") / 127.5 - 1.0)

    def _tensors(self):
        if self._cache is None:
            with tf.device("/cpu:0"):
                self._cache = (tf.constant(self.a), tf.constant(self.b))
        return self._cache

    def dataset(self, batch_size, *, shuffle=True, seed=None, jitter=False, flip=False,
                drop_remainder=True, repeat=False, start_epoch=0, start_step=0, labels=False):
        """A batched, prefetched ``tf.data.Dataset`` of ``(a, b)`` batches,
        float32 NHWC in [-1, 1].

        Each domain has its own order, crops and flips, drawn from
        ``(seed, epoch, domain)``: the same for a given seed (training resumes
        exactly, with :meth:`kerasgan.data.PairedImageSource.dataset`'s epoch
        semantics), and unrelated between the domains, so aligned data (the
        facades halves) is seen unpaired. ``jitter``: resize to
        :func:`kerasgan.data.paired_source.jitter_load_size` (286 for 256) and
        crop a random window back; ``flip``: mirror with probability 0.5.

        Raises:
            DataError: an empty domain, a bad batch size, ``labels=True``.
        """
        for what, arr in zip(self.domain_names, (self.a, self.b)):
            if len(arr) == 0:
                raise DataError(f"domain {what} of {self.name!r} has no images")
        self._no_labels(labels)
        n = len(self)
        batch_size, seed, start_epoch, start_step, steps = self._epoch_arguments(
            batch_size, seed=seed, drop_remainder=drop_remainder, start_epoch=start_epoch,
            start_step=start_step)
        shuffle, jitter, flip = bool(shuffle), bool(jitter), bool(flip)
        tensors = dict(zip("AB", self._tensors()))
        counts = {"A": int(self.a.shape[0]), "B": int(self.b.shape[0])}
        height, width = self.image_shape[:2]
        load = (jitter_load_size(height), jitter_load_size(width))

        def domain_parts(pair, domain):
            stream = tf.random.experimental.stateless_fold_in(pair, _DOMAIN_STREAMS[domain])
            count = counts[domain]
            idx = shuffled_indices(stream, count, shuffle)
            # the shorter domain cycles through its own order
            parts = {"idx": tf.gather(idx, tf.range(n, dtype=tf.int64) % count)}
            if flip:
                parts["flip"] = flip_draws(stream, n)
            if jitter:
                parts.update(jitter_parts(stream, n, (height, width), load))
            return {f"{domain}_{key}": value for key, value in parts.items()}

        def fetch_domain(batch, domain):
            x = tf.gather(tensors[domain], batch[f"{domain}_idx"])
            x = tf.cast(x, tf.float32) / 127.5 - 1.0
            if jitter:
                x = jitter_batch(x, batch[f"{domain}_dy"], batch[f"{domain}_dx"],
                                 (height, width), load)
            if flip:
                x = tf.where(batch[f"{domain}_flip"][:, None, None, None],
                             tf.reverse(x, axis=[2]), x)
            return x

        return index_pipeline(
            lambda pair: {**domain_parts(pair, "A"), **domain_parts(pair, "B")},
            lambda batch: (fetch_domain(batch, "A"), fetch_domain(batch, "B")),
            n=n, batch_size=batch_size, steps=steps, seed=seed,
            randomised=shuffle or jitter or flip, drop_remainder=bool(drop_remainder),
            repeat=repeat, start_epoch=start_epoch, start_step=start_step)


def _read_domain(folder, what, size, channels, limit):
    if not os.path.isdir(folder):
        raise DataError(f"domain {what} folder {folder!r} not found: pass a folder of images")
    files = image_io.image_files(folder)
    if not files:
        raise DataError(f"domain {what} folder {folder} holds no images")
    if limit is not None:
        files = files[: utils.check_int(limit, "limit", 1, error=DataError)]
    if channels is None:  # as the files are: gray or RGB
        channels = image_io.file_channels(files[0])
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        images = list(pool.map(lambda f: image_io.read_image(f, channels, size)[0], files))
    first = images[0].shape
    for f, im in zip(files, images):
        if im.shape != first:
            raise DataError(f"{f} is {im.shape[1]}x{im.shape[0]} pixels, {files[0]} "
                            f"{first[1]}x{first[0]}: pass resize= (--resize)")
    return np.stack(images)


def open_unpaired(root_a, root_b=None, *, split="train", resize=None, channels=None,
                  limit=None):
    """Reads two image domains into an :class:`UnpairedImageSource`.

    Three layouts:

    - ``open_unpaired(folder_a, folder_b)``: two image folders (each read
      from its ``split`` subfolder when it has one);
    - ``open_unpaired(root)`` with ``root/<split>A`` and ``root/<split>B``
      (the ``trainA``/``trainB`` layout of the unpaired reference data sets);
    - ``open_unpaired(root)`` of A|B pair images (the facades format):
      domain A is the left halves (facades: the photos), domain B the right
      halves (the label maps). :meth:`UnpairedImageSource.dataset` shuffles
      them independently, so the pairing is never used in training.

    Args:
        root_a: domain A's folder, or the dataset root.
        root_b: domain B's folder (None: one of the one-root layouts).
        split: split subfolder (``train``, ``test``, ...).
        resize: ``(H, W)``, an int or ``"HxW"`` (bicubic, once).
        channels: 1 or 3 for both domains; default: as the files are (a gray
            domain is 1 channel, a color one 3).
        limit: read only the first ``limit`` files of each domain.

    Raises:
        DataError: a missing or empty folder, an unreadable file, images of
            different sizes without ``resize``, domains with different channel
            counts (the message names both).
    """
    size = image_io.parse_size(resize)
    channels = image_io.check_channels(channels)
    path_a = os.path.abspath(os.path.expanduser(os.fspath(root_a)))
    if root_b is not None:
        path_b = os.path.abspath(os.path.expanduser(os.fspath(root_b)))
        dirs = []
        for p in (path_a, path_b):
            dirs.append(os.path.join(p, split) if os.path.isdir(os.path.join(p, split)) else p)
        a = _read_domain(dirs[0], f"A ({dirs[0]})", size, channels, limit)
        b = _read_domain(dirs[1], f"B ({dirs[1]})", size, channels, limit)
        return UnpairedImageSource(a, b, name=f"{os.path.basename(path_a)}|"
                                   f"{os.path.basename(path_b)}:{split}",
                                   names=(f"A ({dirs[0]})", f"B ({dirs[1]})"))
    if not os.path.isdir(path_a):
        raise DataError(f"unpaired data folder {os.fspath(root_a)!r} not found: pass two image "
                        "folders, a folder with trainA/ and trainB/, or a folder of A|B pairs")
    dir_a, dir_b = os.path.join(path_a, f"{split}A"), os.path.join(path_a, f"{split}B")
    name = os.path.basename(path_a.rstrip(os.sep))
    if os.path.isdir(dir_a) and os.path.isdir(dir_b):
        a = _read_domain(dir_a, f"A ({dir_a})", size, channels, limit)
        b = _read_domain(dir_b, f"B ({dir_b})", size, channels, limit)
        return UnpairedImageSource(a, b, name=f"{name}:{split}",
                                   names=(f"A ({dir_a})", f"B ({dir_b})"))
    pairs = open_paired(path_a, split=split, direction="AtoB", resize=resize,
                        channels=channels or 3, limit=limit)
    return UnpairedImageSource(pairs.inputs, pairs.targets, name=f"{name}:{split}:halves",
                               aligned=True, names=("A (left halves)", "B (right halves)"))
