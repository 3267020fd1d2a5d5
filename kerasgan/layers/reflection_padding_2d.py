"""`ReflectionPadding2D`: mirror padding of NHWC images (ResNet translation generators, Zhu et al. 2017)."""

import keras


@keras.saving.register_keras_serializable(package="kerasgan")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads height and width by reflection (``torch.nn.ReflectionPad2d``,
    ``tf.pad(mode="REFLECT")``): the border pixel is not repeated, so each
    side needs at least ``padding + 1`` pixels. Exports to ONNX ``Pad``
    (mode ``reflect``) and takes any height and width.

    Args:
        padding: pixels added on each side of the height and width.
        **kwargs: ``keras.layers.Layer`` arguments.

    Example:
        >>> x = ReflectionPadding2D(3)(x)     # (N, H, W, C) -> (N, H + 6, W + 6, C)
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)
        if self.padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")

    def call(self, inputs):
        p = self.padding
        if not p:
            return inputs
        return keras.ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        grow = lambda d: None if d is None else d + 2 * self.padding  # noqa: E731
        return (input_shape[0], grow(input_shape[1]), grow(input_shape[2]), input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(padding=self.padding)
        return config
