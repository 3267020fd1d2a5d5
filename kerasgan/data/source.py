"""`Source`: the interface every data source implements, and the deterministic
epoch pipeline they share.

A source holds a whole data set in memory and makes batched, prefetched
``tf.data`` pipelines of it whose order and augmentation are a pure function
of ``(seed, epoch, position)``, so that training resumes exactly. What one
example is (an image, an image and its label, a pair of images, a token
sequence) is the concrete source's business; the contract is:

- ``name``: a short description, for messages;
- ``len(source)`` / ``num_examples``: examples in one epoch;
- ``num_batches(batch_size, drop_remainder=True)``: batches in one epoch;
- ``dataset(batch_size, *, shuffle=True, seed=None, drop_remainder=True,
  repeat=False, start_epoch=0, start_step=0, **augmentation)``: the pipeline;
  for a fixed ``seed``, epoch ``e`` is the same wherever it is made
  (``repeat=True, start_epoch=e``);
- ``arrays(start=0, stop=None)``: the elements of examples ``start:stop`` in
  stored order, without shuffling or augmentation, as NumPy arrays (what a
  preview grid or an evaluation reads);
- ``labels`` / ``num_classes``: class labels, or None.

:class:`ImageDataSource` adds what every image source has: ``image_shape``
(one input image), ``target_shape`` (one image the generator makes),
``images`` (``uint8``, the images the generator should make) and the ``flip``
augmentation.
"""

import abc
import random

import numpy as np
import tensorflow as tf

from kerasgan import utils
from kerasgan.data.errors import DataError

# Largest epoch index a `repeat=True` dataset runs to (in practice: forever).
_MAX_EPOCH = 2**62


def check_seed(seed):
    """A dataset seed: an integer that fits in 64 bits, or None (one drawn at
    random, once).

    Raises:
        DataError: anything else.
    """
    if seed is None:
        return random.SystemRandom().randrange(2**31 - 1)
    if not utils.is_int(seed):
        raise DataError(
            f"seed must be an integer or None, got {seed!r} "
            f"({type(seed).__name__}): pass e.g. seed=0"
        )
    seed = int(seed)
    if not -(2**63) <= seed < 2**63:
        raise DataError(f"seed {seed} does not fit in 64 bits: pass a smaller integer")
    return seed


def _mix_seed(seed, epoch):
    """Derives a 31-bit op seed from (seed, epoch) for `tf.data.Dataset.random`."""
    x = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) % 2**64
    x ^= x >> 31
    x = (x * 0xD6E8FEB86659FD93) % 2**64
    x ^= x >> 32
    return int(x % (2**31 - 1))


def index_pipeline(parts_fn, fetch, *, n, batch_size, steps, seed, randomised,
                   drop_remainder=True, repeat=False, start_epoch=0, start_step=0):
    """The deterministic epoch pipeline every source shares.

    ``parts_fn(pair)`` returns a dict of length-``n`` tensors for one epoch
    (indices, flips, crop offsets...) drawn from ``pair = [seed, epoch]``; they
    are cut into batches of index tensors, ``start_step`` batches are skipped
    without gathering any example, then ``fetch(batch)`` makes the batch. With
    ``repeat`` the epochs run from ``start_epoch`` on; otherwise one epoch is
    made per iteration, a fresh random one when ``randomised`` (shuffle, flips
    or crops), else epoch ``start_epoch``. The result is sharded by data under
    ``tf.distribute`` and prefetched.
    """
    if repeat:
        epochs = tf.data.Dataset.range(start_epoch, _MAX_EPOCH)
    elif randomised:
        epochs = tf.data.Dataset.random(
            seed=_mix_seed(seed, start_epoch), rerandomize_each_iteration=True
        ).take(1)
    else:
        epochs = tf.data.Dataset.from_tensors(tf.constant(start_epoch, tf.int64))

    n_full = n // batch_size
    remainder = n - n_full * batch_size
    seed_t = tf.constant(seed, tf.int64)

    def epoch_batches(epoch):
        parts = parts_fn(tf.stack([seed_t, tf.cast(epoch, tf.int64)]))
        full = tf.data.Dataset.from_tensor_slices(
            {k: tf.reshape(v[: n_full * batch_size], [n_full, batch_size]) for k, v in parts.items()}
        )
        if remainder and not drop_remainder:
            last = tf.data.Dataset.from_tensors({k: v[n_full * batch_size :] for k, v in parts.items()})
            full = full.concatenate(last)
        return full

    ds = epochs.flat_map(epoch_batches)
    if start_step:
        ds = ds.skip(start_step)  # index batches only: nothing is gathered
    ds = ds.map(fetch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    cardinality = tf.data.INFINITE_CARDINALITY if repeat else steps - start_step
    ds = ds.apply(tf.data.experimental.assert_cardinality(cardinality))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.autotune.enabled = False  # see kerasgan.core.tf_step.without_autotune
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)



def shuffled_indices(pair, n, shuffle):
    """Epoch order: ``stateless_shuffle(range(n), seed=pair)``, or ``range(n)``."""
    idx = tf.range(n, dtype=tf.int64)
    if shuffle:
        idx = tf.random.experimental.stateless_shuffle(idx, seed=pair)
    return idx


def flip_draws(stream, n):
    """Which of ``n`` examples are mirrored: a stateless uniform draw below 0.5,
    seeded from ``stream`` folded with 1."""
    s = tf.random.experimental.stateless_fold_in(stream, 1)
    return tf.random.stateless_uniform([n], seed=s) < 0.5


class Source(abc.ABC):
    """A data set in memory that makes deterministic ``tf.data`` pipelines.

    The interface of every kerasgan data source (see the module docstring);
    subclasses implement ``__len__``, :meth:`dataset` and :meth:`arrays`, and
    check the common ``dataset`` arguments with :meth:`_epoch_arguments`.
    """

    #: a short description of where the data comes from, for messages
    name = "source"
    #: class labels per example (``int64``), or None
    labels = None
    #: number of classes, or None
    num_classes = None
    #: what one example is called in messages
    example = "example"

    @abc.abstractmethod
    def __len__(self):
        """Examples in one epoch."""

    @property
    def num_examples(self):
        """Examples in one epoch (``len(self)``)."""
        return len(self)

    def num_batches(self, batch_size, drop_remainder=True):
        """Batches in one epoch: ``len(self) // batch_size``, or the ceiling
        when the last, partial batch is kept.

        Raises:
            DataError: ``batch_size`` is not a positive integer.
        """
        batch_size = utils.check_int(batch_size, "batch_size", 1, error=DataError)
        n = len(self)
        return n // batch_size if drop_remainder else -(-n // batch_size)

    @abc.abstractmethod
    def arrays(self, start=0, stop=None):
        """The elements of examples ``start:stop`` in stored order, with no
        shuffling or augmentation, as NumPy arrays (a tuple for a source whose
        batches are tuples)."""

    @abc.abstractmethod
    def dataset(self, batch_size, *, shuffle=True, seed=None, drop_remainder=True,
                repeat=False, start_epoch=0, start_step=0, **augmentation):
        """A batched, prefetched ``tf.data.Dataset`` whose order and
        augmentation are a pure function of ``(seed, epoch, position)``.

        Args:
            batch_size: positive int.
            shuffle: shuffle each epoch.
            seed: int seed (None: one drawn at random, once).
            drop_remainder: drop each epoch's last partial batch.
            repeat: an endless dataset of epochs ``start_epoch, start_epoch + 1, ...``;
                epoch ``e`` is the same for a seed wherever it starts.
            start_epoch: index of the first epoch.
            start_step: batches of the first epoch to skip.
            **augmentation: the source's own options (``flip``, ``jitter``, ...).
        """

    def _size_text(self, n):
        return f"{n} {self.example}s"

    def _epoch_arguments(self, batch_size, *, seed, drop_remainder, start_epoch, start_step):
        """Checks the arguments every ``dataset`` takes.

        Returns:
            ``(batch_size, seed, start_epoch, start_step, steps)``, with a
            ``None`` seed drawn and ``steps`` the batches of one epoch.

        Raises:
            DataError: an empty source, a bad batch size (or, with
                ``drop_remainder``, one larger than the source), a bad seed,
                ``start_epoch`` or ``start_step``.
        """
        n = len(self)
        if n == 0:
            raise DataError(f"data source {self.name!r} has no {self.example}s: use a source "
                            f"with at least one {self.example}")
        batch_size = utils.check_int(batch_size, "batch_size", 1, error=DataError)
        if drop_remainder and batch_size > n:
            raise DataError(f"batch size {batch_size} is larger than the dataset "
                            f"({self._size_text(n)}): use a batch size ≤ {n}")
        start_epoch = utils.check_int(start_epoch, "start_epoch", 0, error=DataError)
        start_step = utils.check_int(start_step, "start_step", 0, error=DataError)
        steps = self.num_batches(batch_size, drop_remainder)
        if start_step and start_step >= steps:
            raise DataError(f"start_step {start_step} is not inside an epoch of {steps} batches: "
                            f"pass 0 ≤ start_step < {steps}")
        return batch_size, check_seed(seed), start_epoch, start_step, steps

    def _no_labels(self, labels):
        """Refuses ``labels=True`` for a source whose examples have no class labels."""
        if labels:
            raise DataError(f"{self.example}s of {self.name!r} have no class labels: pass "
                            "labels=False")


class ImageDataSource(Source):
    """A :class:`Source` of images: adds ``image_shape``, ``target_shape``,
    ``images`` and the ``flip`` option of :meth:`dataset` (random left-right
    mirroring with probability 0.5, drawn from ``(seed, epoch)``)."""

    example = "image"

    @property
    @abc.abstractmethod
    def image_shape(self):
        """``(H, W, C)`` of one input image (what the networks take)."""

    @property
    def target_shape(self):
        """``(H, W, C)`` of one image the generator makes (``image_shape``
        unless the source says otherwise)."""
        return self.image_shape

    #: the ``uint8`` NHWC images the generator should make (an attribute or a
    #: property of each source)
    images = None


def check_uint8_images(images, what):
    """A ``uint8`` ``(N, H, W, C)`` NumPy array with ``C`` in 1, 3, 4.

    Raises:
        DataError: another dtype or shape (the message names ``what``).
    """
    images = np.asarray(images)
    try:
        if images.dtype != np.uint8:
            raise DataError(images.dtype)
        utils.check_image_shape(images.shape, what, batch=True, error=DataError)
    except DataError:
        raise DataError(f"{what} must be uint8 (N, H, W, C) arrays with C in 1, 3, 4, got "
                        f"{images.dtype} {images.shape}") from None
    return images


__all__ = ["Source", "ImageDataSource", "index_pipeline", "check_seed", "check_uint8_images",
           "shuffled_indices", "flip_draws"]
