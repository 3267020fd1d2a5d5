"""DCGAN (Radford et al. 2015): networks and the GAN subclass."""

import keras
from keras import layers

from kerasgan.gan import GAN
from kerasgan import precision
from kerasgan.models import register
from kerasgan.spec import FamilySpec, Option, LATENT_TO_IMAGE
from kerasgan.utils import check_image_shape


def _init():
    # DCGAN section 4: all weights from N(0, 0.02).
    return keras.initializers.RandomNormal(0.0, 0.02)


def _batch_norm(name):
    # synchronized=True: under MirroredStrategy the batch statistics are those of
    # the global batch, so N replicas compute what one device computes.
    # momentum/epsilon as in the reference (PyTorch) implementation.
    return layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5, synchronized=True, name=name
    )


def validate_image_shape(image_shape):
    """Checks an ``(H, W, C)`` shape (1, 3 or 4 channels, at least 4x4) and returns it as a tuple of ints."""
    return check_image_shape(image_shape, "image_shape", min_size=4)


def upsampling_plan(image_shape):
    """Start resolution and number of stride-2 layers for an image shape.

    The spatial size is halved while it stays even and at least 4, so 28 gives
    7 -> 14 -> 28 (2 layers), 32 gives 4 -> 8 -> 16 -> 32 (3) and 64 gives
    4 -> ... -> 64 (4).

    Raises:
        ValueError: the size cannot be reached by doubling (e.g. odd sizes).
    """
    height, width, _ = image_shape
    steps = 0
    h, w = height, width
    while h % 2 == 0 and w % 2 == 0 and h // 2 >= 4 and w // 2 >= 4:
        h, w, steps = h // 2, w // 2, steps + 1
    if steps == 0:
        raise ValueError(
            f"image size {height}x{width} cannot be built by stride-2 upsampling: "
            "use an even size such as 28, 32 or 64 (resize the data with --resize)"
        )
    return (h, w), steps


def build_generator(image_shape, latent_dim=100, width=64, normalization="batch", name="generator"):
    """DCGAN generator: project and reshape, then stride-2 transposed convolutions.

    Channels halve at each doubling of resolution, ending at ``width`` before the
    output layer: for 64x64 with ``width=128`` that is the paper's
    4x4x1024 -> 8x8x512 -> 16x16x256 -> 32x32x128 -> 64x64x3.

    Args:
        image_shape: ``(H, W, C)`` of the output.
        latent_dim: size of the input ``z``.
        width: channels of the last hidden layer.
        normalization: ``"batch"`` (synchronised batch norm) or ``"none"``.
        name: model name.

    Returns:
        A ``keras.Model`` with input ``z`` ``(latent_dim,)`` and output ``images``
        ``(H, W, C)`` in [-1, 1] (tanh).
    """
    z = keras.Input((latent_dim,), name="z")
    images = generator_trunk(z, image_shape, width, normalization)
    return keras.Model(z, images, name=name)


def generator_trunk(x, image_shape, width=64, normalization="batch"):
    """The DCGAN generator from a flat input tensor ``x`` (the latent, or the
    latent joined with a condition) to the ``images`` tensor (tanh, float32).
    Conditional families build their generators around it."""
    image_shape = validate_image_shape(image_shape)
    (h0, w0), steps = upsampling_plan(image_shape)
    channels = image_shape[-1]
    use_bn = normalization == "batch"
    c0 = width * 2 ** (steps - 1)
    x = layers.Dense(h0 * w0 * c0, use_bias=not use_bn, kernel_initializer=_init(), name="project")(x)
    if use_bn:
        x = _batch_norm("project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    x = layers.Reshape((h0, w0, c0), name="reshape")(x)
    for i in range(steps - 1):
        filters = width * 2 ** (steps - 2 - i)
        x = layers.Conv2DTranspose(
            filters, 4, strides=2, padding="same", use_bias=not use_bn,
            kernel_initializer=_init(), name=f"up{i}",
        )(x)
        if use_bn:
            x = _batch_norm(f"up{i}_bn")(x)
        x = layers.ReLU(name=f"up{i}_relu")(x)
    x = layers.Conv2DTranspose(
        channels, 4, strides=2, padding="same", kernel_initializer=_init(), name="to_image"
    )(x)
    return layers.Activation("tanh", dtype="float32", name="images")(x)


def build_discriminator(image_shape, width=64, normalization="batch", name="discriminator"):
    """DCGAN discriminator: stride-2 convolutions with LeakyReLU(0.2), then a
    linear logit. No normalisation on the first layer (as in the paper).

    Args:
        image_shape: ``(H, W, C)`` of the input images.
        width: channels of the first layer; doubled at each halving.
        normalization: ``"batch"``, ``"layer"`` or ``"none"`` (a WGAN-GP critic
            must not use batch norm: the penalty is per example).
        name: model name.

    Returns:
        A ``keras.Model`` from ``images`` to ``logits`` of shape ``(1,)``.
    """
    images = keras.Input(validate_image_shape(image_shape), name="images")
    features = discriminator_trunk(images, image_shape, width, normalization)
    logits = layers.Dense(1, kernel_initializer=_init(), dtype="float32", name="logits")(features)
    return keras.Model(images, logits, name=name)


def discriminator_trunk(x, image_shape, width=64, normalization="batch"):
    """The DCGAN discriminator from an image tensor ``x`` (possibly with extra
    condition channels) to its flattened features, before the logit layer.
    Conditional families put their heads on it."""
    image_shape = validate_image_shape(image_shape)
    _, steps = upsampling_plan(image_shape)
    if normalization not in ("batch", "layer", "none"):
        raise ValueError(f"normalization must be 'batch', 'layer' or 'none', got {normalization!r}")
    for i in range(steps):
        filters = width * 2**i
        first = i == 0
        use_norm = not first and normalization != "none"
        x = layers.Conv2D(
            filters, 4, strides=2, padding="same", use_bias=not (use_norm and normalization == "batch"),
            kernel_initializer=_init(), name=f"down{i}",
        )(x)
        if use_norm:
            x = (_batch_norm(f"down{i}_bn") if normalization == "batch"
                 else layers.LayerNormalization(axis=(1, 2, 3), epsilon=1e-5, name=f"down{i}_ln"))(x)
        x = layers.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
    return layers.Flatten(name="flatten")(x)


@register("dcgan")
@keras.saving.register_keras_serializable(package="kerasgan")
class DCGAN(GAN):
    """Deep Convolutional GAN.

    Builds its generator and discriminator for ``image_shape`` (28x28x1, 32x32x3,
    64x64x3 and any even size that halves down to 4-7 pixels), trained with the
    non-saturating loss and Adam(2e-4, beta_1=0.5) by default. Batch norm is
    synchronised across replicas.

    Args:
        image_shape: ``(H, W, C)`` of the images.
        latent_dim: size of ``z`` (100 in the paper).
        width: channel width (last generator layer, first discriminator layer).
        **kwargs: :class:`kerasgan.GAN` arguments (``d_steps``, ``ema_decay``,
            ``r1_gamma``, ``seed``, ``name``).

    References:
        Radford, Metz and Chintala, "Unsupervised Representation Learning with
        Deep Convolutional Generative Adversarial Networks", ICLR 2016
        (arXiv:1511.06434).

    Example:
        >>> gan = kerasgan.models.DCGAN(image_shape=(28, 28, 1), latent_dim=100)
        >>> gan.compile()
        >>> gan.fit(kerasgan.data.load("mnist-10k", batch_size=128), epochs=5)
    """

    spec = FamilySpec(
        kind=LATENT_TO_IMAGE, batch="images", summary="Deep convolutional GAN (Radford et al. 2016)",
        options=(Option("latent_dim", help="size of z", minimum=1),
                 Option("width", help="network width (channels)", minimum=1)),
        recommended={"epochs": 5, "batch_size": 128},
        references=("https://arxiv.org/abs/1511.06434",))

    #: a small configuration for fast tests.
    tiny_config = {"image_shape": (8, 8, 1), "latent_dim": 8, "width": 4}
    discriminator_normalization = "batch"

    def __init__(self, image_shape=(28, 28, 1), latent_dim=100, width=64, **kwargs):
        self.image_shape = validate_image_shape(image_shape)
        self.width = int(width)
        with precision.dtype_scope(kwargs.get("dtype")):
            generator = build_generator(self.image_shape, latent_dim, self.width)
            discriminator = build_discriminator(
                self.image_shape, self.width, normalization=self.discriminator_normalization
            )
        super().__init__(generator, discriminator, latent_dim=latent_dim, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(image_shape=list(self.image_shape), width=self.width)
        return config
