"""`ImageSource`: an in-memory image set and its deterministic `tf.data` pipeline."""

import numbers
import random

import numpy as np
import tensorflow as tf

from kerasgan.data.errors import DataError

# Largest epoch index a `repeat=True` dataset runs to (in practice: forever).
_MAX_EPOCH = 2**62


def _check_int(value, what, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DataError(
            f"{what} must be an integer, got {value!r} "
            f"({type(value).__name__}): pass an int ≥ {minimum}"
        )
    value = int(value)
    if value < minimum:
        raise DataError(f"{what} must be ≥ {minimum}, got {value}: pass an int ≥ {minimum}")
    return value


def _check_seed(seed):
    if seed is None:
        return random.SystemRandom().randrange(2**31 - 1)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
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
    without gathering any image, then ``fetch(batch)`` makes the images. With
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
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)



class ImageSource:
    """Images decoded into memory, with optional integer labels.

    An `ImageSource` holds a whole image set as one `uint8` NHWC NumPy array
    (`images`), plus an `int64` label per image (`labels`) or `None`. It is
    what `kerasgan.data.open_source()` returns, and it can also wrap arrays of
    your own. `dataset()` turns it into a batched, prefetched
    `tf.data.Dataset` of `float32` images in `[-1, 1]`.

    Args:
        images: `uint8` array of shape `(N, H, W, C)` with `C` in `{1, 3, 4}`.
            A `(N, H, W)` array is accepted and gets a channel axis.
        labels: optional integer array of shape `(N,)` (values ≥ 0).
        num_classes: number of classes; defaults to `len(class_names)` when
            given, else to `labels.max() + 1`, else `None`.
        class_names: optional list of class names, index = label id.
        name: a short description of where the images come from, e.g.
            `"mnist-10k"`, `"idx:/data/mnist"`, `"folder:/data/faces"`,
            `"npz:/data/x.npz"`, `"tfds:mnist:train"`.

    Raises:
        DataError: if the arrays have the wrong dtype, rank or length.

    Example:

    >>> import numpy as np
    >>> from kerasgan.data import ImageSource
    >>> src = ImageSource(np.zeros((10, 8, 8, 1), np.uint8), name="zeros")
    >>> len(src), src.image_shape
    (10, (8, 8, 1))
    >>> batch = next(iter(src.dataset(4, seed=0)))
    >>> batch.shape, float(batch.numpy().min())
    (TensorShape([4, 8, 8, 1]), -1.0)
    """

    def __init__(self, images, labels=None, *, num_classes=None, class_names=None, name="array"):
        images = np.asarray(images)
        if images.dtype != np.uint8:
            raise DataError(
                f"{name}: images must be uint8 (0-255), got {images.dtype}: "
                f"convert them with np.clip(x, 0, 255).astype(np.uint8)"
            )
        if images.ndim == 3:
            images = images[..., np.newaxis]
        if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
            raise DataError(
                f"{name}: images must have shape (N, H, W, C) with C in 1, 3, 4, "
                f"got {images.shape}: reshape them to NHWC"
            )
        if labels is not None:
            labels = np.asarray(labels)
            if labels.ndim == 2 and labels.shape[1] == 1:
                labels = labels[:, 0]
            if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
                raise DataError(
                    f"{name}: labels must have shape ({images.shape[0]},) to match the "
                    f"images, got {labels.shape}: pass one integer label per image"
                )
            if labels.dtype.kind == "f" and labels.size and np.all(np.isfinite(labels)) and np.all(
                labels == np.round(labels)
            ):
                labels = labels.astype(np.int64)
            if labels.dtype.kind not in "iub":
                raise DataError(
                    f"{name}: labels must be integers, got {labels.dtype}: pass integer class ids"
                )
            labels = labels.astype(np.int64)
            if labels.size and labels.min() < 0:
                raise DataError(
                    f"{name}: labels must be ≥ 0, found {int(labels.min())}: "
                    f"pass class ids 0..num_classes-1"
                )
        if class_names is not None:
            class_names = [str(c) for c in class_names]
        if num_classes is None:
            if class_names is not None:
                num_classes = len(class_names)
            elif labels is not None:
                num_classes = int(labels.max()) + 1 if labels.size else 0
        if labels is not None and labels.size and num_classes is not None and (
                int(labels.max()) >= int(num_classes)):
            raise DataError(
                f"{name}: label {int(labels.max())} is not a class of "
                f"{int(num_classes)} (0..{int(num_classes) - 1}): pass the right num_classes "
                "(or class_names), or fix the labels"
            )
        self.images = images
        self.labels = labels
        self.num_classes = None if num_classes is None else int(num_classes)
        self.class_names = class_names
        self.name = str(name)
        self._tensor_cache = None

    def __len__(self):
        return int(self.images.shape[0])

    def __repr__(self):
        labels = "no labels" if self.labels is None else f"{self.num_classes} classes"
        return f"<ImageSource {self.name}: {len(self)} images {self.image_shape}, {labels}>"

    @property
    def image_shape(self):
        """The shape of one image, `(H, W, C)`."""
        return tuple(int(d) for d in self.images.shape[1:])

    def num_batches(self, batch_size, drop_remainder=True):
        """Number of batches in one epoch.

        Args:
            batch_size: positive int.
            drop_remainder: whether the last, partial batch is dropped.

        Returns:
            `len(self) // batch_size` if `drop_remainder`, else the ceiling.

        Raises:
            DataError: if `batch_size` is not a positive int.
        """
        batch_size = _check_int(batch_size, "batch_size", 1)
        n = len(self)
        return n // batch_size if drop_remainder else -(-n // batch_size)

    def _tensors(self):
        # One host-memory copy of the arrays per source, shared by all datasets
        # made from it (re-made only if `images`/`labels` were replaced).
        key = (id(self.images), id(self.labels))
        if self._tensor_cache is None or self._tensor_cache[0] != key:
            with tf.device("/cpu:0"):
                images = tf.constant(self.images)
                labels = None if self.labels is None else tf.constant(self.labels.astype(np.int32))
            self._tensor_cache = (key, images, labels)
        return self._tensor_cache[1], self._tensor_cache[2]

    def dataset(
        self,
        batch_size,
        *,
        labels=False,
        shuffle=True,
        seed=None,
        flip=False,
        drop_remainder=True,
        repeat=False,
        start_epoch=0,
        start_step=0,
    ):
        """Builds a batched, prefetched `tf.data.Dataset` over the images.

        Elements are `float32` image batches `(B, H, W, C)` in `[-1, 1]`
        (`x / 127.5 - 1`, so pixel 0 → -1.0 and 255 → 1.0 exactly), or
        `(images, labels)` tuples with `int32` labels when `labels=True`.
        Batches never span two epochs.

        Shuffling and flipping are a pure function of `(seed, epoch, position)`:
        epoch `e` visits the images in the order
        `tf.random.experimental.stateless_shuffle(tf.range(N), seed=[seed, e])`
        and flips position `p` of that order iff a stateless uniform draw
        seeded from `(seed, e)` is below 0.5 at index `p`.

        - `repeat=True`: an endless dataset of epochs `start_epoch`,
          `start_epoch + 1`, ... Epoch `k` is identical whether the dataset was
          started at 0 or at `k`: this is what exact resume of training relies
          on (`start_epoch` = number of finished epochs; use `steps_per_epoch`
          = `num_batches(batch_size)` with `model.fit`).
        - `repeat=False`: exactly one epoch per iteration, but each new
          iteration of the same dataset (e.g. each epoch of
          `model.fit(ds, epochs=5)`) draws a fresh epoch key from
          `tf.data.Dataset.random(rerandomize_each_iteration=True)` seeded by
          `(seed, start_epoch)`, so every pass has a new order and new flips.
          The sequence of orders is reproducible for a given seed (in a fresh
          dataset), but it is not the sequence of `repeat=True` epochs.
        - `start_step`: skip the first `start_step` batches of the first epoch
          (resume in the middle of an epoch; the skipped batches are never
          read).

        Under `tf.distribute` the dataset is sharded by data
        (`AutoShardPolicy.DATA`): `fit` splits every global batch into one
        slice per replica (worker `i` takes its replicas' slices), so N
        workers see exactly the batches one process would. Every worker holds
        the whole source in memory, whatever it was read from (files, TFDS or
        arrays).

        Args:
            batch_size: positive int.
            labels: if True, elements are `(images, labels)` tuples.
            shuffle: shuffle the order each epoch; if False, natural order.
            seed: int seed of the shuffle and flips; `None` draws one at
                random once, when the dataset is created.
            flip: randomly mirror each image left-right with probability 0.5.
            drop_remainder: drop the last, partial batch of each epoch.
            repeat: endless dataset of successive epochs (see above).
            start_epoch: index of the first epoch (int ≥ 0).
            start_step: batches of the first epoch to skip (0 ≤ start_step <
                `num_batches(batch_size)`).

        Returns:
            A `tf.data.Dataset`; its cardinality is `num_batches()` when
            `repeat=False`, infinite when `repeat=True`.

        Raises:
            DataError: if the source is empty, `batch_size` is not a positive
                int or (with `drop_remainder`) larger than the source, `labels`
                is asked of a source without labels, or `seed`/`start_epoch`
                are not integers.

        Example:

        >>> from kerasgan import data
        >>> src = data.open_source("mnist-10k")
        >>> ds = src.dataset(64, labels=True, seed=1, flip=True)
        >>> x, y = next(iter(ds))
        >>> x.shape, x.dtype.name, y.dtype.name
        (TensorShape([64, 28, 28, 1]), 'float32', 'int32')
        """
        n = len(self)
        if n == 0:
            raise DataError(f"data source {self.name!r} has no images: use a source with at least one image")
        batch_size = _check_int(batch_size, "batch_size", 1)
        if drop_remainder and batch_size > n:
            raise DataError(
                f"batch size {batch_size} is larger than the dataset ({n} images): "
                f"use a batch size ≤ {n}"
            )
        if labels and self.labels is None:
            raise DataError(
                f"data source {self.name!r} has no labels: use labels=False (an unconditional "
                f"model) or a source with labels (class subfolders, an IDX labels file, "
                f"'y' in the .npz)"
            )
        start_epoch = _check_int(start_epoch, "start_epoch", 0)
        start_step = _check_int(start_step, "start_step", 0)
        if start_step and start_step >= self.num_batches(batch_size, drop_remainder):
            raise DataError(
                f"start_step {start_step} is not inside an epoch of "
                f"{self.num_batches(batch_size, drop_remainder)} batches: pass "
                f"0 ≤ start_step < {self.num_batches(batch_size, drop_remainder)}"
            )
        seed = _check_seed(seed)
        shuffle = bool(shuffle)
        flip = bool(flip)
        drop_remainder = bool(drop_remainder)
        images_t, labels_t = self._tensors()

        def epoch_parts(pair):
            idx = tf.range(n, dtype=tf.int64)
            if shuffle:
                idx = tf.random.experimental.stateless_shuffle(idx, seed=pair)
            parts = {"idx": idx}
            if flip:
                flip_seed = tf.random.experimental.stateless_fold_in(pair, 1)
                parts["flip"] = tf.random.stateless_uniform([n], seed=flip_seed) < 0.5
            return parts

        def fetch(batch):
            x = tf.gather(images_t, batch["idx"])
            if flip:
                x = tf.where(batch["flip"][:, None, None, None], tf.reverse(x, axis=[2]), x)
            x = tf.cast(x, tf.float32) / 127.5 - 1.0
            if labels:
                return x, tf.gather(labels_t, batch["idx"])
            return x

        return index_pipeline(
            epoch_parts, fetch, n=n, batch_size=batch_size,
            steps=self.num_batches(batch_size, drop_remainder), seed=seed,
            randomised=shuffle or flip, drop_remainder=drop_remainder, repeat=repeat,
            start_epoch=start_epoch, start_step=start_step)
