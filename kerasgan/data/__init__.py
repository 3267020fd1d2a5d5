"""Image data sources for kerasgan.

`open_source()` decodes a whole image set into memory as an `ImageSource`;
`ImageSource.dataset()` (or `load()`, which does both) turns it into a
batched, prefetched `tf.data.Dataset` of `float32` images in `[-1, 1]`, with
shuffling and flips that are a pure function of `(seed, epoch)` so that
training can resume exactly.

Sources: `"mnist-10k"` (bundled, offline), `"tfds:NAME[:SPLIT]"`, a folder of
IDX files (or an IDX images file), an image folder (`ROOT/<class>/*.png`),
or a `.npz` file.

Example:

>>> from kerasgan import data
>>> ds = data.load("mnist-10k", batch_size=64, labels=True, seed=0)
>>> images, labels = next(iter(ds))
>>> images.shape, labels.shape
(TensorShape([64, 28, 28, 1]), TensorShape([64]))
"""

from kerasgan.data.errors import DataError
from kerasgan.data.image_source import ImageSource
from kerasgan.data.sources import (
    BUNDLED_MNIST_DIR,
    IMAGE_EXTENSIONS,
    convert_channels,
    load,
    open_source,
    read_idx,
    resize_images,
    rgb_to_gray,
)

__all__ = [
    "BUNDLED_MNIST_DIR",
    "DataError",
    "IMAGE_EXTENSIONS",
    "ImageSource",
    "convert_channels",
    "load",
    "open_source",
    "read_idx",
    "resize_images",
    "rgb_to_gray",
]
