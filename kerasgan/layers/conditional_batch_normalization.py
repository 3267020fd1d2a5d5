"""Class-conditional batch normalisation (de Vries et al. 2017)."""

import keras
from keras import ops

from kerasgan.utils import check_int

__all__ = ["ConditionalBatchNormalization"]


@keras.saving.register_keras_serializable(package="kerasgan")
class ConditionalBatchNormalization(keras.layers.Layer):
    """Batch normalisation whose scale and shift are looked up per class.

    ``y = BN(x) * gamma[label] + beta[label]``: a ``BatchNormalization`` without
    its own scale and offset normalises over every axis but the last (NHWC
    images or ``(batch, features)``), then two tables of shape
    ``(num_classes, channels)`` give each example the ``gamma``/``beta`` row of
    its class. ``gamma`` starts at ones and ``beta`` at zeros, so before
    training the layer is a plain batch normalisation. The generator blocks of
    Miyato & Koyama (2018) and BigGAN use this layer.

    Called as ``layer([x, labels], training=...)`` with integer ``labels`` of
    shape ``(batch,)`` or ``(batch, 1)``.

    Under a mixed precision policy the layer works as Keras'
    ``BatchNormalization`` does: the batch statistics, the moving averages,
    the normalisation and the per-class scale and shift are computed in
    float32 (the variables' dtype), and only the result is cast to the compute
    dtype (float16 or bfloat16).

    Args:
        num_classes: number of classes (rows of the gamma and beta tables).
        momentum: momentum of the moving mean and variance.
        epsilon: added to the variance.
        synchronized: under ``MirroredStrategy``, compute the batch statistics
            over the global batch (TensorFlow backend), so N replicas compute
            what one device computes.
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Returns:
        A tensor with the shape of ``x``.

    Raises:
        ValueError: ``num_classes < 1``, or inputs that are not ``[x, labels]``.

    References:
        de Vries, Strub, Mary, Larochelle, Pietquin, Courville, "Modulating
        early visual processing by language", NeurIPS 2017, arXiv:1707.00683.
        Miyato, Koyama, "cGANs with Projection Discriminator", ICLR 2018,
        arXiv:1802.05637.

    Example:
        >>> cbn = ConditionalBatchNormalization(num_classes=10)
        >>> y = cbn([np.ones((4, 8, 8, 16), "float32"), np.array([0, 1, 2, 3])])
        >>> y.shape
        (4, 8, 8, 16)
    """

    def __init__(self, num_classes, momentum=0.9, epsilon=1e-5, synchronized=True, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_int(num_classes, "num_classes")
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.synchronized = bool(synchronized)
        # The statistics in the variable dtype (float32 under a mixed policy),
        # as keras.layers.BatchNormalization computes them.
        self._stats_dtype = self.dtype_policy.variable_dtype
        self.batch_norm = keras.layers.BatchNormalization(
            axis=-1,
            momentum=self.momentum,
            epsilon=self.epsilon,
            center=False,
            scale=False,
            synchronized=self.synchronized,
            dtype=self._stats_dtype,
            name="batch_norm",
        )

    @staticmethod
    def _split_shapes(input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 or not isinstance(
            input_shape[0], (list, tuple)
        ):
            raise ValueError(
                "ConditionalBatchNormalization expects inputs [x, labels], "
                f"got input shape {input_shape!r}"
            )
        return tuple(input_shape[0]), tuple(input_shape[1])

    def build(self, input_shape):
        x_shape, _ = self._split_shapes(input_shape)
        channels = x_shape[-1]
        if channels is None:
            raise ValueError("the last (channel) axis of x must be known")
        self.batch_norm.build(x_shape)
        self.gamma = self.add_weight(
            name="gamma", shape=(self.num_classes, channels), initializer="ones",
            autocast=False,
        )
        self.beta = self.add_weight(
            name="beta", shape=(self.num_classes, channels), initializer="zeros",
            autocast=False,
        )

    def call(self, inputs, training=None):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("ConditionalBatchNormalization expects inputs [x, labels]")
        x, labels = inputs
        # float32 in (a 16-bit x is upcast), float32 statistics and output
        x = self.batch_norm(ops.cast(x, self._stats_dtype), training=training)
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        gamma = ops.take(self.gamma, labels, axis=0)
        beta = ops.take(self.beta, labels, axis=0)
        # (batch, channels) -> (batch, 1, ..., 1, channels)
        for _ in range(len(x.shape) - 2):
            gamma = ops.expand_dims(gamma, 1)
            beta = ops.expand_dims(beta, 1)
        y = x * ops.cast(gamma, x.dtype) + ops.cast(beta, x.dtype)
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        x_shape, _ = self._split_shapes(input_shape)
        return x_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "synchronized": self.synchronized,
        }
