"""Equalised learning rate, pixel norm and minibatch standard deviation
(Karras et al. 2018, "Progressive Growing of GANs", section 4).

Equalised learning rate: the trainable weights are drawn from ``N(0, 1 / lr_multiplier^2)``
and multiplied at *every* forward pass by the per-layer constant
``gain / sqrt(fan_in) * lr_multiplier`` (He's constant for ``gain=sqrt(2)``),
instead of being initialised with that scale once. The effective weight is
the same at initialisation, but since Adam's step size does not depend on the
gradient's scale, every weight now moves at the same relative speed, whatever
its layer's fan-in. ``lr_multiplier`` (StyleGAN's mapping network uses 0.01)
slows one layer down by that factor: the stored weight is ``1 / lr_multiplier``
times larger and the runtime scale ``lr_multiplier`` times smaller.

Biases: stored as ``bias_init / lr_multiplier`` and multiplied by
``lr_multiplier`` at runtime, so the effective initial bias is ``bias_init``.

Mixed precision: kernels and biases are float32 variables read in float32
(never autocast); the scaled weight is computed in float32 and cast to the
compute dtype for the matmul or convolution. :class:`PixelNorm` and
:class:`MinibatchStdDev` compute their statistics in float32 too.

Example:
    >>> import keras
    >>> from kerasgan.layers import EqualizedConv2D, EqualizedDense, MinibatchStdDev, PixelNorm
    >>> d = keras.Sequential([keras.Input((8, 8, 3)),
    ...                       EqualizedConv2D(16, 3, activation="leaky_relu"),
    ...                       MinibatchStdDev(group_size=4), keras.layers.Flatten(),
    ...                       EqualizedDense(1, gain=1.0)])
"""

import math

import keras
from keras import ops

from kerasgan.utils import check_int, check_number, is_int

__all__ = ["EqualizedDense", "EqualizedConv2D", "PixelNorm", "MinibatchStdDev"]

#: He's gain for (leaky) ReLU layers, the default of the equalised layers.
HE_GAIN = math.sqrt(2.0)


class _EqualizedMixin:
    """Shared variables and runtime scaling of the equalised layers."""

    def _eq_init(self, lr_multiplier, gain, use_bias, bias_init, activation):
        self.lr_multiplier = check_number(lr_multiplier, "lr_multiplier", lambda v: v > 0,
                                          "a positive number")
        self.gain = check_number(gain, "gain", lambda v: v > 0, "a positive number")
        self.use_bias = bool(use_bias)
        self.bias_init = float(bias_init)
        self.activation = keras.activations.get(activation)

    def _eq_build(self, kernel_shape, fan_in):
        self.fan_in = int(fan_in)
        #: the runtime weight scale ``gain / sqrt(fan_in) * lr_multiplier``
        self.weight_scale = self.gain / math.sqrt(self.fan_in) * self.lr_multiplier
        self.kernel = self.add_weight(
            name="kernel",
            shape=kernel_shape,
            initializer=keras.initializers.RandomNormal(0.0, 1.0 / self.lr_multiplier),
            dtype=self.variable_dtype,
            autocast=False,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(kernel_shape[-1],),
                initializer=keras.initializers.Constant(self.bias_init / self.lr_multiplier),
                dtype=self.variable_dtype,
                autocast=False,
            )

    def scaled_kernel(self):
        """The kernel the forward pass uses, ``kernel * weight_scale``, in the
        variable dtype (float32)."""
        return ops.convert_to_tensor(self.kernel) * self.weight_scale

    def scaled_bias(self):
        """The bias the forward pass uses, ``bias * lr_multiplier`` (None
        without a bias)."""
        if self.bias is None:
            return None
        return ops.convert_to_tensor(self.bias) * self.lr_multiplier

    def _eq_finish(self, y):
        if self.bias is not None:
            y = y + ops.cast(self.scaled_bias(), y.dtype)
        return self.activation(y) if self.activation is not None else y

    def _eq_config(self):
        return {
            "lr_multiplier": self.lr_multiplier,
            "gain": self.gain,
            "use_bias": self.use_bias,
            "bias_init": self.bias_init,
            "activation": keras.activations.serialize(self.activation)
            if self.activation is not None else None,
        }


@keras.saving.register_keras_serializable(package="kerasgan")
class EqualizedDense(_EqualizedMixin, keras.layers.Layer):
    """Fully connected layer with an equalised learning rate.

    ``y = activation(x @ (W * gain / sqrt(fan_in) * lr_multiplier) + b * lr_multiplier)``
    with ``W ~ N(0, 1 / lr_multiplier^2)``: the effective weight has He's
    standard deviation ``gain / sqrt(fan_in)`` (see the module docstring).
    Works on inputs of any rank (the last axis is the features).

    Args:
        units: output features.
        lr_multiplier: learning-rate multiplier of this layer (1; StyleGAN's
            mapping network uses 0.01).
        use_bias: add a bias.
        bias_init: the effective initial bias (0; the style-based generator's style affine
            layers use 1).
        activation: a Keras activation (name or callable), applied after the bias.
        gain: the weight gain, ``sqrt(2)`` (He, for ReLU-family activations;
            progressive growing's output layers use 1, its first generator layer
            ``sqrt(2) / 4``).
        **kwargs: base layer arguments (``name``, ``dtype``).

    References:
        Karras, Aila, Laine and Lehtinen, "Progressive Growing of GANs for
        Improved Quality, Stability, and Variation", ICLR 2018
        (arXiv:1710.10196), section 4.1. Karras, Laine and Aila, "A Style-Based
        Generator Architecture for GANs", CVPR 2019 (``lr_multiplier``).

    Example:
        >>> layer = EqualizedDense(64, activation="leaky_relu")
        >>> layer(np.ones((2, 32), "float32")).shape
        (2, 64)
    """

    def __init__(self, units, lr_multiplier=1.0, use_bias=True, bias_init=0.0, activation=None,
                 gain=HE_GAIN, **kwargs):
        super().__init__(**kwargs)
        self.units = check_int(units, "units")
        self._eq_init(lr_multiplier, gain, use_bias, bias_init, activation)

    def build(self, input_shape):
        fan_in = input_shape[-1]
        if fan_in is None:
            raise ValueError(f"{self.name}: the last input axis must be known, got {input_shape}")
        self._eq_build((int(fan_in), self.units), fan_in)

    def call(self, inputs):
        kernel = ops.cast(self.scaled_kernel(), self.compute_dtype)
        return self._eq_finish(ops.matmul(ops.cast(inputs, self.compute_dtype), kernel))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, **self._eq_config())
        return config


@keras.saving.register_keras_serializable(package="kerasgan")
class EqualizedConv2D(_EqualizedMixin, keras.layers.Layer):
    """2-D convolution (NHWC) with an equalised learning rate.

    The kernel ``(kh, kw, in, filters)`` is scaled at runtime by
    ``gain / sqrt(kh * kw * in) * lr_multiplier`` (see :class:`EqualizedDense`).

    Args:
        filters: output channels.
        kernel_size: an int or ``(kh, kw)``.
        lr_multiplier: learning-rate multiplier of this layer.
        use_bias: add a bias.
        padding: ``"same"`` or ``"valid"``.
        activation: a Keras activation, applied after the bias.
        strides: an int or ``(sh, sw)`` (1).
        gain: the weight gain (``sqrt(2)``; 1 for toRGB-style output layers).
        bias_init: the effective initial bias.
        **kwargs: base layer arguments.

    References:
        Karras et al., "Progressive Growing of GANs", ICLR 2018, section 4.1.

    Example:
        >>> EqualizedConv2D(8, 3)(np.ones((2, 4, 4, 3), "float32")).shape
        (2, 4, 4, 8)
    """

    def __init__(self, filters, kernel_size, lr_multiplier=1.0, use_bias=True, padding="same",
                 activation=None, strides=1, gain=HE_GAIN, bias_init=0.0, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_int(filters, "filters")
        self.kernel_size = self._pair("kernel_size", kernel_size)
        self.strides = self._pair("strides", strides)
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        self.padding = padding
        self._eq_init(lr_multiplier, gain, use_bias, bias_init, activation)

    @staticmethod
    def _pair(name, value):
        try:
            pair = (value, value) if is_int(value) else tuple(value)
        except TypeError:
            pair = ()
        if len(pair) != 2 or not all(is_int(v) and v >= 1 for v in pair):
            raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
        return tuple(int(v) for v in pair)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel axis must be known, got {input_shape}")
        kh, kw = self.kernel_size
        self._eq_build((kh, kw, int(channels), self.filters), kh * kw * int(channels))

    def call(self, inputs):
        kernel = ops.cast(self.scaled_kernel(), self.compute_dtype)
        y = ops.conv(ops.cast(inputs, self.compute_dtype), kernel, strides=self.strides,
                     padding=self.padding, data_format="channels_last")
        return self._eq_finish(y)

    def compute_output_shape(self, input_shape):
        def size(n, k, s):
            if n is None:
                return None
            return -(-n // s) if self.padding == "same" else -(-(n - k + 1) // s)

        n, h, w = input_shape[0], input_shape[1], input_shape[2]
        return (n, size(h, self.kernel_size[0], self.strides[0]),
                size(w, self.kernel_size[1], self.strides[1]), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=list(self.kernel_size),
                      strides=list(self.strides), padding=self.padding, **self._eq_config())
        return config


@keras.saving.register_keras_serializable(package="kerasgan")
class PixelNorm(keras.layers.Layer):
    """Pixelwise feature vector normalisation: ``x / sqrt(mean(x^2, axis) + epsilon)``.

    Over the channel axis of NHWC feature maps (or the features of a
    ``(batch, features)`` latent): each pixel's feature vector gets unit RMS.
    Computed in float32 under mixed precision.

    Args:
        epsilon: added to the mean square (1e-8, as in the paper).
        axis: the feature axis (-1).
        **kwargs: base layer arguments.

    References:
        Karras et al., "Progressive Growing of GANs", ICLR 2018, section 4.2.

    Example:
        >>> PixelNorm()(np.full((1, 2, 2, 4), 3.0, "float32"))[0, 0, 0]  # -> ones
    """

    def __init__(self, epsilon=1e-8, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not float(epsilon) >= 0.0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon!r}")
        self.epsilon = float(epsilon)
        self.axis = int(axis)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        x = x * ops.rsqrt(ops.mean(ops.square(x), axis=self.axis, keepdims=True) + self.epsilon)
        return ops.cast(x, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon, axis=self.axis)
        return config


@keras.saving.register_keras_serializable(package="kerasgan")
class MinibatchStdDev(keras.layers.Layer):
    """Minibatch standard deviation: appends ``num_features`` channels holding
    the average, over features and pixels, of each feature's standard
    deviation within a group of examples.

    Following the official implementation (progressive_growing_of_gans
    ``minibatch_stddev_layer``, the style-based code's ``num_new_features``): the batch is
    split into groups of ``G`` examples, the channels into ``num_features``
    slices; within each group, the standard deviation over the ``G`` examples
    of every feature at every pixel (``sqrt(var + 1e-8)``) is averaged over
    the slice's channels and all pixels, giving one value per group and slice,
    broadcast to every example and pixel of the group as an extra channel.

    Two differences from the official code, both on purpose:

    - **Contiguous groups**: examples ``0..G-1`` form the first group, and so
      on (the official code takes every ``N/G``-th example). Under
      ``MirroredStrategy`` each replica sees a contiguous slice of the global
      batch, so with local batches divisible by ``G`` N replicas form exactly
      the groups one device forms on the global batch.
    - **Any batch size**: ``G`` is the largest divisor of the batch not above
      ``group_size`` (``min(group_size, batch)`` when it divides the batch, as
      in the official code, which fails otherwise). An odd batch of 5 has
      ``G = 1``: the feature is then the constant ``1e-4``. Keep training
      batches divisible by ``group_size``.

    Computed in float32 under mixed precision.

    Args:
        group_size: examples per group (4 in the paper).
        num_features: extra channels (1 in the paper); must divide the input
            channels.
        **kwargs: base layer arguments.

    Returns:
        ``(batch, H, W, C + num_features)``.

    References:
        Karras et al., "Progressive Growing of GANs", ICLR 2018, section 3.

    Example:
        >>> MinibatchStdDev(group_size=4)(np.zeros((8, 4, 4, 16), "float32")).shape
        (8, 4, 4, 17)
    """

    def __init__(self, group_size=4, num_features=1, **kwargs):
        super().__init__(**kwargs)
        self.group_size = check_int(group_size, "group_size")
        self.num_features = check_int(num_features, "num_features")

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"{self.name}: expects NHWC feature maps, got shape {input_shape}")
        if input_shape[-1] % self.num_features:
            raise ValueError(
                f"{self.name}: num_features={self.num_features} must divide the "
                f"{input_shape[-1]} input channels"
            )

    def group(self, batch):
        """The group size used for ``batch`` examples: the largest divisor of
        ``batch`` not above ``group_size`` (a Python int or a scalar tensor)."""
        if isinstance(batch, int):
            return max(g for g in range(1, min(self.group_size, batch) + 1) if batch % g == 0)
        candidates = ops.arange(self.group_size, 0, -1, dtype="int32")
        batch = ops.cast(batch, "int32")
        return ops.max(ops.where(ops.equal(batch % candidates, 0), candidates, 1))

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        shape = ops.shape(x)
        batch, height, width, channels = shape[0], shape[1], shape[2], x.shape[-1]
        group = self.group(batch)
        n = self.num_features
        # (M, G, H, W, n, C/n): contiguous groups of G examples
        y = ops.reshape(x, (-1, group, height, width, n, channels // n))
        y = y - ops.mean(y, axis=1, keepdims=True)
        y = ops.sqrt(ops.mean(ops.square(y), axis=1) + 1e-8)  # (M, H, W, n, C/n)
        y = ops.mean(y, axis=(1, 2, 4))  # (M, n)
        y = ops.reshape(y, (-1, 1, 1, 1, n))
        y = ops.broadcast_to(y, (batch // group, group, height, width, n))
        y = ops.reshape(y, (batch, height, width, n))
        return ops.cast(ops.concatenate([x, y], axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + self.num_features,)

    def get_config(self):
        config = super().get_config()
        config.update(group_size=self.group_size, num_features=self.num_features)
        return config
