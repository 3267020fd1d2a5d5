"""`ImageSource`: an in-memory image set and its deterministic `tf.data` pipeline."""

import numpy as np
import tensorflow as tf

from kerasgan import utils
from kerasgan.data.errors import DataError
from kerasgan.data.source import ImageDataSource, flip_draws, index_pipeline, shuffled_indices


class ImageSource(ImageDataSource):
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
        utils.check_image_shape(images.shape, f"{name}: images", batch=True, error=DataError)
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

    def arrays(self, start=0, stop=None):
        """Images ``start:stop`` as float32 in [-1, 1], in stored order, no flips
        (the elements of :meth:`dataset` with ``labels=False``)."""
        return self.images[slice(start, stop)].astype("float32") / 127.5 - 1.0

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
        batch_size, seed, start_epoch, start_step, steps = self._epoch_arguments(
            batch_size, seed=seed, drop_remainder=drop_remainder, start_epoch=start_epoch,
            start_step=start_step)
        if labels and self.labels is None:
            raise DataError(
                f"data source {self.name!r} has no labels: use labels=False (an unconditional "
                f"model) or a source with labels (class subfolders, an IDX labels file, "
                f"'y' in the .npz)"
            )
        shuffle = bool(shuffle)
        flip = bool(flip)
        drop_remainder = bool(drop_remainder)
        images_t, labels_t = self._tensors()

        def epoch_parts(pair):
            parts = {"idx": shuffled_indices(pair, n, shuffle)}
            if flip:
                parts["flip"] = flip_draws(pair, n)
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
            epoch_parts, fetch, n=n, batch_size=batch_size, steps=steps, seed=seed,
            randomised=shuffle or flip, drop_remainder=drop_remainder, repeat=repeat,
            start_epoch=start_epoch, start_step=start_step)
