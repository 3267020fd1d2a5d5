"""`SubPixelUpsampling`: depth-to-space rearrangement (the sub-pixel convolution of Shi et al. 2016)."""

import keras


@keras.saving.register_keras_serializable(package="kerasgan")
class SubPixelUpsampling(keras.layers.Layer):
    """Rearranges ``(N, H, W, r*r*C)`` into ``(N, r*H, r*W, C)``: the "pixel
    shuffle" of a sub-pixel convolution (Shi et al. 2016), exactly
    ``tf.nn.depth_to_space(x, r)`` (TensorFlow's DCR channel order:
    output pixel ``(r*h + i, r*w + j)``, channel ``c`` is input channel
    ``(i*r + j)*C + c``; PyTorch's ``PixelShuffle`` orders the channels
    ``c*r*r + i*r + j`` instead, so ported weights need their output channels
    permuted). Written with ``keras.ops`` reshapes and a transpose, so it
    takes any height and width and exports to ONNX.

    Args:
        block_size: the upscaling factor ``r`` (>= 2).
        **kwargs: ``keras.layers.Layer`` arguments.

    Raises:
        ValueError: ``block_size`` < 2, or input channels not a multiple of
            ``r*r``.

    Example:
        >>> x = keras.layers.Conv2D(256, 3, padding="same")(x)   # (N, H, W, 64 * 4)
        >>> x = SubPixelUpsampling(2)(x)                            # (N, 2H, 2W, 64)
    """

    def __init__(self, block_size=2, **kwargs):
        super().__init__(**kwargs)
        self.block_size = int(block_size)
        if self.block_size < 2:
            raise ValueError(f"block_size must be >= 2, got {block_size}")

    def build(self, input_shape):
        channels = input_shape[-1]
        r2 = self.block_size**2
        if channels is None or channels % r2:
            raise ValueError(f"SubPixelUpsampling({self.block_size}) needs input channels that "
                             f"are a multiple of {r2}, got {channels}")

    def call(self, inputs):
        r = self.block_size
        shape = keras.ops.shape(inputs)
        n, h, w, c = shape[0], shape[1], shape[2], inputs.shape[-1]
        out_c = c // (r * r)
        x = keras.ops.reshape(inputs, (n, h, w, r, r, out_c))
        x = keras.ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return keras.ops.reshape(x, (n, h * r, w * r, out_c))

    def compute_output_shape(self, input_shape):
        r = self.block_size
        grow = lambda d: None if d is None else d * r  # noqa: E731
        return (input_shape[0], grow(input_shape[1]), grow(input_shape[2]),
                None if input_shape[3] is None else input_shape[3] // (r * r))

    def get_config(self):
        config = super().get_config()
        config.update(block_size=self.block_size)
        return config
