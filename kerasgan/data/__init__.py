"""Image data sources for kerasgan.

`open_source()` decodes a whole image set into memory as an `ImageSource`;
`ImageSource.dataset()` (or `load()`, which does both) turns it into a
batched, prefetched `tf.data.Dataset` of `float32` images in `[-1, 1]`, with
shuffling and flips that are a pure function of `(seed, epoch)` so that
training can resume exactly.

Sources: `"mnist-10k"` (bundled, offline), `"tfds:NAME[:SPLIT]"`, a folder of
IDX files (or an IDX images file), an image folder (`ROOT/<class>/*.png`),
or a `.npz` file. Paired A|B image folders (the facades format) open with
`open_paired()` as a `PairedImageSource` of (input, target) pairs; two unpaired
domains open with `open_unpaired()` as an `UnpairedImageSource`; high-res images
for super-resolution with `open_super_resolution()`.

Every source implements `Source` (`name`, `len()`, `num_batches()`,
`dataset()`, `arrays()`, `labels`, `num_classes`); image sources implement
`ImageDataSource` (`image_shape`, `target_shape`, `images`). Every image file is
read and resized by `kerasgan.data.image_io`, with one resampling rule
(bicubic, antialiased when shrinking).

Example:

>>> from kerasgan import data
>>> ds = data.load("mnist-10k", batch_size=64, labels=True, seed=0)
>>> images, labels = next(iter(ds))
>>> images.shape, labels.shape
(TensorShape([64, 28, 28, 1]), TensorShape([64]))
"""

from kerasgan.data.errors import DataError
from kerasgan.data.source import ImageDataSource, Source
from kerasgan.data.image_source import ImageSource
from kerasgan.data.paired_source import DIRECTIONS, PairedImageSource, open_paired, split_pair
from kerasgan.data.unpaired_source import UnpairedImageSource, open_unpaired
from kerasgan.data.super_resolution import (
    SuperResolutionSource,
    bicubic_upscale,
    downscale,
    open_super_resolution,
)
from kerasgan.data.text_source import TokenSequenceSource, open_text_source, read_sentences
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
    "TokenSequenceSource",
    "open_text_source",
    "read_sentences",
    "Source",
    "ImageDataSource",
    "BUNDLED_MNIST_DIR",
    "DataError",
    "DIRECTIONS",
    "PairedImageSource",
    "open_paired",
    "split_pair",
    "UnpairedImageSource",
    "open_unpaired",
    "SuperResolutionSource",
    "open_super_resolution",
    "downscale",
    "bicubic_upscale",
    "IMAGE_EXTENSIONS",
    "ImageSource",
    "convert_channels",
    "load",
    "open_source",
    "read_idx",
    "resize_images",
    "rgb_to_gray",
]
