"""Layers for GAN networks: spectral normalisation and conditional batch norm.

Why not ``keras.layers.SpectralNormalization``? That wrapper, in training
mode, *assigns* ``W / sigma`` into the wrapped layer's kernel variable: the
optimizer's parameter is overwritten at every step and no gradient flows
through ``sigma``; it also runs a power iteration (and writes ``u``) in every
training-mode call, so the real, fake and generator passes of one GAN step each
move it, and that write is not declared safe for ``MirroredStrategy`` replica
contexts.

Here spectral normalisation is a reparametrisation, as PyTorch's
``torch.nn.utils.parametrizations.spectral_norm``:

- the trainable variable stays the raw ``W``; every forward pass (training or
  inference) uses ``W / sigma`` with ``sigma = u^T W_mat v``, ``u`` and ``v``
  held constant, so the gradient goes through ``W`` in both the numerator and
  ``sigma``;
- the forward pass never writes ``u`` or ``v``. :func:`power_iterate` (or
  :meth:`SNDense.power_iteration` per layer) updates them; a GAN train step
  calls it once per discriminator update, so there is one update per step and
  none at inference;
- ``u`` and ``v`` are non-trainable with ``aggregation="only_first_replica"``,
  so the update is legal inside ``MirroredStrategy.run`` and the same on every
  replica; they are saved in ``.keras`` files and ``save_weights``;
- 15 power iterations run when the layer is built, so ``sigma`` is accurate
  from the first step.

Example:
    >>> import keras
    >>> from kerasgan.layers import SNConv2D, SNDense, power_iterate
    >>> d = keras.Sequential([keras.Input((8, 8, 1)), SNConv2D(8, 3, strides=2),
    ...                       keras.layers.Flatten(), SNDense(1)])
    >>> power_iterate(d)  # once per discriminator update, in train_step
    2
"""

from kerasgan.layers.conditional_batch_normalization import ConditionalBatchNormalization
from kerasgan.layers.global_batch_dropout import GlobalBatchDropout
from kerasgan.layers.image_pool import ImagePool
from kerasgan.layers.reflection_padding_2d import ReflectionPadding2D
from kerasgan.layers.sub_pixel_upsampling import SubPixelUpsampling
from kerasgan.layers.text import Highway, RelationalMemory
from kerasgan.layers.equalized import EqualizedConv2D, EqualizedDense, MinibatchStdDev, PixelNorm
from kerasgan.layers.spectral_normalization import (
    SNConv2D,
    SNDense,
    SNEmbedding,
    SpectralNormalizationMixin,
    power_iterate,
    spectral_norm_layers,
)

__all__ = [
    "Highway",
    "RelationalMemory",
    "SNDense",
    "SNConv2D",
    "SNEmbedding",
    "SpectralNormalizationMixin",
    "ConditionalBatchNormalization",
    "EqualizedDense",
    "EqualizedConv2D",
    "PixelNorm",
    "MinibatchStdDev",
    "GlobalBatchDropout",
    "ImagePool",
    "ReflectionPadding2D",
    "SubPixelUpsampling",
    "power_iterate",
    "spectral_norm_layers",
]
