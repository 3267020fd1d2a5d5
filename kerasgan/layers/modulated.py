"""The synthesis layers of a style-based generator (Karras et al. 2020): modulated (and demodulated) convolution,
noise injection, the learned constant input and the gained leaky ReLU
(Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN").

:class:`ModulatedConv2D` is written in the form the official code calls
``fused_modconv=False``: instead of building one convolution kernel per
example (``w'_ijk = s_i * w_ijk``, then ``w''_ijk = w'_ijk / sqrt(sum_ik w'^2 + eps)``,
equations 1 and 3 of the paper), it scales the *activations*:

    y = conv(x * s, w) * d,   d_j = 1 / sqrt(sum_{i,k} (s_i * w_ijk)^2 + eps)

which is the same function, since the convolution is linear in the input
channels. It is one ordinary convolution with a shared kernel, two broadcast
multiplications and one ``(batch, in) @ (in, out)`` matrix product for ``d``:
plain ops that XLA compiles and tf2onnx converts (no grouped convolution, no
per-example kernels).

Mixed precision: the style affine layer, the kernel scaling and the
demodulation coefficients are float32; the convolution runs in the layer's
compute dtype.

Upsampling: the synthesis network puts a :class:`BilinearUpsample2x` before
the 3x3 modulated convolution of each new resolution (modulation is per input
channel, so it commutes with the upsampling), and upsamples the skip image with
it. The official code uses a transposed convolution followed by a
``[1, 3, 3, 1]`` FIR low-pass filter; bilinear upsampling with half-pixel
centres is that same ``[1, 3, 3, 1]`` filter in the interior of the image (it
differs only at the border, which bilinear clamps instead of zero-padding).

Example:
    >>> import keras
    >>> from kerasgan.layers.modulated import ModulatedConv2D, NoiseInjection
    >>> x, w = keras.Input((8, 8, 16)), keras.Input((32,))
    >>> noise = keras.Input((8, 8, 1))
    >>> y = ModulatedConv2D(16, 3)([x, w])
    >>> y = NoiseInjection()([y, noise])
"""

import math

import keras
from keras import ops

from kerasgan.layers.equalized import EqualizedDense
from kerasgan.utils import check_int

__all__ = ["ModulatedConv2D", "NoiseInjection", "BilinearUpsample2x", "ConstantInput",
           "leaky_relu_gain"]


@keras.saving.register_keras_serializable(package="kerasgan")
def leaky_relu_gain(x):
    """The style-based generator's activation: ``leaky_relu(x, 0.2) * sqrt(2)`` (the official
    ``bias_act`` ``lrelu`` with its default gain), which keeps unit-variance
    inputs near unit variance.

    Written as ``max(x, 0.2 x)``: TensorFlow's graph optimiser fails (and logs
    an error) fusing ``LeakyRelu`` into the double-backward pass of R1."""
    gain = ops.cast(math.sqrt(2.0), x.dtype)
    return ops.maximum(x, x * ops.cast(0.2, x.dtype)) * gain


@keras.saving.register_keras_serializable(package="kerasgan")
class ModulatedConv2D(keras.layers.Layer):
    """Style-modulated 2-D convolution with optional weight demodulation.

    Called on ``[x, w]``: NHWC feature maps ``x`` and a latent ``w`` of shape
    ``(batch, w_dim)``. An affine layer (equalised learning rate, bias
    initialised to 1, as in the paper) maps ``w`` to one style ``s_i`` per input
    channel; the kernel (equalised: ``N(0, 1)`` scaled by
    ``1 / sqrt(k * k * in)`` at runtime) is modulated by ``s`` and, with
    ``demodulate=True``, each output channel of each example is rescaled to
    unit expected standard deviation (eq. 3 of the paper). Computed as
    ``conv(x * s, w) * d`` (see the module docstring). A bias follows.

    With ``demodulate=False`` and ``kernel_size=1`` this is the style-based generator's toRGB
    layer.

    Args:
        filters: output channels.
        kernel_size: odd int, the square kernel size (3; 1 for toRGB).
        demodulate: rescale by ``d`` (True; False for toRGB).
        use_bias: add a learned bias (initialised to 0).
        epsilon: added under the square root of the demodulation (1e-8).
        **kwargs: base layer arguments (``name``, ``dtype``).

    Returns:
        ``(batch, H, W, filters)``, "same" padding.

    References:
        Karras, Laine, Aittala, Hellsten, Lehtinen and Aila, "Analyzing and
        Improving the Image Quality of StyleGAN", CVPR 2020 (arXiv:1912.04958),
        section 2.2, equations 1-3.

    Example:
        >>> layer = ModulatedConv2D(8, 3)
        >>> layer([np.ones((2, 4, 4, 4), "float32"), np.ones((2, 6), "float32")]).shape
        (2, 4, 4, 8)
    """

    def __init__(self, filters, kernel_size=3, demodulate=True, use_bias=True, epsilon=1e-8,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = check_int(filters, "filters")
        self.kernel_size = check_int(kernel_size, "kernel_size")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.demodulate = bool(demodulate)
        self.use_bias = bool(use_bias)
        if not float(epsilon) >= 0.0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon!r}")
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 \
                or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"{self.name}: call it on [x, w], got input shape {input_shape}")
        x_shape, w_shape = input_shape
        if len(x_shape) != 4 or x_shape[-1] is None:
            raise ValueError(f"{self.name}: x must be NHWC feature maps, got shape {x_shape}")
        if len(w_shape) != 2 or w_shape[-1] is None:
            raise ValueError(f"{self.name}: w must have shape (batch, w_dim), got {w_shape}")
        self.in_channels = int(x_shape[-1])
        # float32 styles: the demodulation is computed from them in float32
        self.affine = EqualizedDense(self.in_channels, bias_init=1.0, gain=1.0, dtype="float32",
                                     name="affine")
        self.affine.build(tuple(w_shape))
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel", shape=(k, k, self.in_channels, self.filters),
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
            dtype=self.variable_dtype, autocast=False)
        self.weight_scale = 1.0 / math.sqrt(k * k * self.in_channels)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros",
                                        dtype=self.variable_dtype, autocast=False)

    def styles(self, w):
        """The per-input-channel styles ``s = A(w)``, float32 ``(batch, in)``."""
        return self.affine(ops.cast(w, "float32"))

    def demodulation(self, styles):
        """``d = 1 / sqrt(sum_{i,k} (s_i w_ijk)^2 + eps)``, float32 ``(batch, filters)``."""
        kernel = ops.convert_to_tensor(self.kernel) * self.weight_scale
        power = ops.sum(ops.square(kernel), axis=(0, 1))  # (in, out)
        return ops.rsqrt(ops.matmul(ops.square(styles), power) + self.epsilon)

    def call(self, inputs):
        x, w = inputs
        styles = self.styles(w)
        dtype = self.compute_dtype
        x = ops.cast(x, dtype) * ops.cast(styles[:, None, None, :], dtype)
        kernel = ops.cast(ops.convert_to_tensor(self.kernel) * self.weight_scale, dtype)
        y = ops.conv(x, kernel, strides=1, padding="same", data_format="channels_last")
        if self.demodulate:
            y = y * ops.cast(self.demodulation(styles)[:, None, None, :], dtype)
        if self.bias is not None:
            y = y + ops.cast(self.bias, dtype)
        return y

    def compute_output_shape(self, input_shape):
        x_shape = input_shape[0]
        return tuple(x_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size,
                      demodulate=self.demodulate, use_bias=self.use_bias, epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="kerasgan")
class NoiseInjection(keras.layers.Layer):
    """Adds per-pixel noise with a learned strength: ``x + strength * noise``.

    Called on ``[x, noise]``; ``noise`` is ``(batch, H, W, 1)``, one map shared
    by all channels, given as an input (the generator never samples). The
    strength starts at 0, so at initialisation the noise has no effect.

    Args:
        per_channel: one strength per channel (StyleGAN, 2019) instead of one
            scalar per layer (False: the official code).
        **kwargs: base layer arguments.

    References:
        Karras, Laine and Aila, "A Style-Based Generator Architecture for
        GANs", CVPR 2019, section 3.2; Karras et al., CVPR 2020, figure 2.

    Example:
        >>> NoiseInjection()([np.ones((2, 4, 4, 8), "float32"),
        ...                   np.ones((2, 4, 4, 1), "float32")]).shape
        (2, 4, 4, 8)
    """

    def __init__(self, per_channel=False, **kwargs):
        super().__init__(**kwargs)
        self.per_channel = bool(per_channel)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 \
                or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"{self.name}: call it on [x, noise], got input shape {input_shape}")
        x_shape, noise_shape = input_shape
        if len(noise_shape) != 4 or noise_shape[-1] != 1:
            raise ValueError(f"{self.name}: noise must be (batch, H, W, 1), got {noise_shape}")
        shape = (int(x_shape[-1]),) if self.per_channel else ()
        self.strength = self.add_weight(name="strength", shape=shape, initializer="zeros",
                                        dtype=self.variable_dtype, autocast=False)

    def call(self, inputs):
        x, noise = inputs
        dtype = self.compute_dtype
        return ops.cast(x, dtype) + ops.cast(noise, dtype) * ops.cast(self.strength, dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update(per_channel=self.per_channel)
        return config


@keras.saving.register_keras_serializable(package="kerasgan")
class BilinearUpsample2x(keras.layers.Layer):
    """2x bilinear upsampling (half-pixel centres, edges clamped) of NHWC maps.

    Each output pixel is ``0.75 * nearest + 0.25 * next nearest`` input pixel
    along each axis: the separable ``[1, 3, 3, 1] / 4`` filter the official
    official code upsamples with (which zero-pads at the border where this
    clamps), and what ``tf.image.resize(..., "bilinear")`` computes. Written
    with slices, products and reshapes only: its gradient (and the gradient of
    that, which path-length regularisation takes) compiles under XLA in
    bfloat16, where ``ResizeBilinearGrad`` does not, and it exports to ONNX
    as plain ops.

    Example:
        >>> BilinearUpsample2x()(np.ones((2, 4, 4, 3), "float32")).shape
        (2, 8, 8, 3)
    """

    @staticmethod
    def _along(x, axis, size):
        def part(start, stop):
            index = [slice(None)] * 4
            index[axis] = slice(start, stop)
            return x[tuple(index)]

        prev = ops.concatenate([part(0, 1), part(0, size - 1)], axis=axis) if size > 1 else x
        nxt = ops.concatenate([part(1, size), part(size - 1, size)], axis=axis) if size > 1 else x
        three, one = ops.cast(0.75, x.dtype), ops.cast(0.25, x.dtype)
        y = ops.stack([three * x + one * prev, three * x + one * nxt], axis=axis + 1)
        shape = [-1] + [int(d) for d in x.shape[1:]]
        shape[axis] *= 2
        return ops.reshape(y, shape)

    def build(self, input_shape):
        if len(input_shape) != 4 or None in tuple(input_shape[1:]):
            raise ValueError(f"{self.name}: expects NHWC maps of known size, got {input_shape}")

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        x = self._along(x, 1, int(x.shape[1]))
        return self._along(x, 2, int(x.shape[2]))

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, 2 * h, 2 * w, c)


@keras.saving.register_keras_serializable(package="kerasgan")
class ConstantInput(keras.layers.Layer):
    """The synthesis network's learned constant, ``(size, size, channels)``
    from ``N(0, 1)``, repeated for every example of the batch of its input
    (only the input's batch size is used).

    Args:
        channels: channels of the constant.
        size: its height and width (4).
        **kwargs: base layer arguments.

    References:
        Karras et al., CVPR 2019, section 2 ("Const 4x4x512").
    """

    def __init__(self, channels, size=4, **kwargs):
        super().__init__(**kwargs)
        self.channels = check_int(channels, "channels")
        self.size = check_int(size, "size")

    def build(self, input_shape):
        self.const = self.add_weight(
            name="const", shape=(self.size, self.size, self.channels),
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
            dtype=self.variable_dtype, autocast=False)

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        const = ops.cast(self.const, self.compute_dtype)[None]
        return ops.broadcast_to(const, (batch, self.size, self.size, self.channels))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, size=self.size)
        return config
