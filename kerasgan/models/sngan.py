"""SNGAN (Miyato et al. 2018) with the projection discriminator (Miyato & Koyama 2018)."""

import keras
from keras import layers

from kerasgan.gan import GAN
from kerasgan.layers import ConditionalBatchNormalization, SNConv2D, SNDense, SNEmbedding
from kerasgan import precision
from kerasgan.models import register
from kerasgan.spec import FamilySpec, Option, LATENT_TO_IMAGE, LABELS_OPTIONAL
from kerasgan.models.conditional import label_input, validate_num_classes
from kerasgan.models.dcgan import upsampling_plan, validate_image_shape


def _norm(x, labels, num_classes, name):
    """Conditional batch norm when the generator is conditional, else batch norm
    (both synchronised across replicas)."""
    if num_classes:
        return ConditionalBatchNormalization(num_classes, name=name)([x, labels])
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, name=name)(x)


def generator_block(x, labels, filters, num_classes, name, output_bias=True):
    """Pre-activation residual block with 2x nearest upsampling:
    norm-ReLU-up-conv3-norm-ReLU-conv3, shortcut up-conv1.

    A convolution whose output goes only into batch norm has no bias (batch
    norm removes it; its gradient would be rounding noise, which Adam scales up
    to full-size steps): ``conv1`` always, the output convolutions of the last
    block (``output_bias=False``).
    """
    shortcut = layers.UpSampling2D(2, name=f"{name}_sc_up")(x)
    shortcut = layers.Conv2D(filters, 1, use_bias=output_bias, name=f"{name}_sc_conv")(shortcut)
    h = _norm(x, labels, num_classes, f"{name}_bn1")
    h = layers.ReLU(name=f"{name}_relu1")(h)
    h = layers.UpSampling2D(2, name=f"{name}_up")(h)
    h = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv1")(h)
    h = _norm(h, labels, num_classes, f"{name}_bn2")
    h = layers.ReLU(name=f"{name}_relu2")(h)
    h = layers.Conv2D(filters, 3, padding="same", use_bias=output_bias, name=f"{name}_conv2")(h)
    return layers.Add(name=f"{name}_add")([h, shortcut])


def discriminator_block(x, filters, downsample, first, name):
    """Residual block of spectrally normalised 3x3 convolutions, with 2x2
    average pooling when ``downsample``. The first block (``first``) has no
    leading ReLU and pools its shortcut before the 1x1 convolution (Miyato's
    "optimized" block); a learnable shortcut only where the shape changes."""
    h = x if first else layers.ReLU(name=f"{name}_relu1")(x)
    h = SNConv2D(filters, 3, padding="same", name=f"{name}_conv1")(h)
    h = layers.ReLU(name=f"{name}_relu2")(h)
    h = SNConv2D(filters, 3, padding="same", name=f"{name}_conv2")(h)
    if downsample:
        h = layers.AveragePooling2D(2, name=f"{name}_pool")(h)
    shortcut = x
    if first:
        shortcut = layers.AveragePooling2D(2, name=f"{name}_sc_pool")(shortcut)
        shortcut = SNConv2D(filters, 1, name=f"{name}_sc_conv")(shortcut)
    elif downsample or x.shape[-1] != filters:
        shortcut = SNConv2D(filters, 1, name=f"{name}_sc_conv")(shortcut)
        if downsample:
            shortcut = layers.AveragePooling2D(2, name=f"{name}_sc_pool")(shortcut)
    return layers.Add(name=f"{name}_add")([h, shortcut])


def build_generator(image_shape, latent_dim=128, width=256, num_classes=None, name="generator"):
    """SNGAN ResNet generator (Miyato et al. 2018, table 4 for 32x32): a linear
    layer to a 4x4 (7x7 for 28x28) map of ``width`` channels, one upsampling
    residual block per doubling, then norm-ReLU-conv3-tanh. Conditional batch
    norm (one gain and bias per class) when ``num_classes`` is set.

    Returns:
        A ``keras.Model`` from ``z`` (and ``labels`` when conditional) to
        ``images`` in [-1, 1].
    """
    image_shape = validate_image_shape(image_shape)
    (h0, w0), steps = upsampling_plan(image_shape)
    z = keras.Input((latent_dim,), name="z")
    labels = label_input() if num_classes else None
    x = layers.Dense(h0 * w0 * width, name="project")(z)
    x = layers.Reshape((h0, w0, width), name="reshape")(x)
    for i in range(steps):
        x = generator_block(x, labels, width, num_classes, f"block{i}",
                            output_bias=i < steps - 1)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, name="out_bn")(x)
    x = layers.ReLU(name="out_relu")(x)
    x = layers.Conv2D(image_shape[-1], 3, padding="same", name="to_image")(x)
    images = layers.Activation("tanh", dtype="float32", name="images")(x)
    inputs = [z, labels] if num_classes else z
    return keras.Model(inputs, images, name=name)


def build_discriminator(image_shape, width=128, num_classes=None, name="discriminator"):
    """SNGAN ResNet discriminator with a projection head: spectrally normalised
    residual blocks (down, down, ..., then two at the lowest resolution), ReLU,
    global sum pooling to ``phi(x)``, then
    ``logit = psi(phi(x)) + <embed(y), phi(x)>`` (Miyato & Koyama 2018, eq. 3),
    with ``psi`` and ``embed`` spectrally normalised. Without ``num_classes`` the
    projection term is dropped (unconditional SNGAN).

    Returns:
        A ``keras.Model`` from ``images`` (and ``labels``) to ``logits (1,)``.
    """
    image_shape = validate_image_shape(image_shape)
    (h0, w0), steps = upsampling_plan(image_shape)
    images = keras.Input(image_shape, name="images")
    x = images
    for i in range(steps):
        x = discriminator_block(x, width, downsample=True, first=i == 0, name=f"block{i}")
    for i in range(steps, steps + 2):
        x = discriminator_block(x, width, downsample=False, first=False, name=f"block{i}")
    x = layers.ReLU(name="out_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    phi = layers.Rescaling(float(h0 * w0), name="sum_pool")(x)  # global *sum* pooling
    logits = SNDense(1, dtype="float32", name="psi")(phi)
    if not num_classes:
        return keras.Model(images, logits, name=name)
    labels = label_input()
    embedded = SNEmbedding(num_classes, width, name="projection")(labels)
    projection = layers.Dot(axes=1, dtype="float32", name="project")([embedded, phi])
    logits = layers.Add(dtype="float32", name="logits")([logits, projection])
    return keras.Model([images, labels], logits, name=name)


@register("sngan")
@keras.saving.register_keras_serializable(package="kerasgan")
class SNGAN(GAN):
    """Spectrally normalised GAN with a projection discriminator.

    Every discriminator weight is divided by its largest singular value
    (:mod:`kerasgan.layers`: a reparametrisation, with one power iteration per
    discriminator update, the same on every replica, none in inference). Hinge
    loss; ResNet networks for 32x32 (and 28x28) images; with ``num_classes`` the
    generator uses conditional batch norm and the discriminator the projection
    ``<embed(y), phi(x)>``; without it, SNGAN is unconditional.

    Defaults: TTUR learning rates (Heusel et al. 2017) as popularised with SN by
    SAGAN: Adam(1e-4) for G, Adam(4e-4) for D, betas (0, 0.9), one D step per G
    step. The SNGAN paper's CIFAR-10 ResNet setting is lr 2e-4 for both with
    ``d_steps=5`` (pass ``d_steps=5`` and your own optimizers to ``compile``).
    Widths 256 (G) and 128 (D) as in the paper.

    Args:
        image_shape: ``(H, W, C)`` of the images.
        num_classes: number of classes, or None for an unconditional model.
        latent_dim: size of ``z`` (128).
        g_width: generator channels (256).
        d_width: discriminator channels (128).
        **kwargs: :class:`kerasgan.GAN` arguments.

    References:
        Miyato, Kataoka, Koyama and Yoshida, "Spectral Normalization for
        Generative Adversarial Networks", ICLR 2018 (arXiv:1802.05957).
        Miyato and Koyama, "cGANs with Projection Discriminator", ICLR 2018
        (arXiv:1802.05637). Heusel et al., "GANs Trained by a Two Time-Scale
        Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017.

    Example:
        >>> gan = kerasgan.models.SNGAN(image_shape=(32, 32, 3), num_classes=10)
        >>> gan.compile()
        >>> gan.fit(kerasgan.data.load("cifar10", batch_size=64, labels=True), epochs=1)
    """

    spec = FamilySpec(
        kind=LATENT_TO_IMAGE, batch="images", labels=LABELS_OPTIONAL,
        summary="Spectral-norm GAN, projection discriminator when the data has labels "
                "(Miyato et al. 2018)",
        options=(Option("latent_dim", help="size of z", minimum=1),
                 Option("g_width", help="generator width (channels)", minimum=1),
                 Option("d_width", help="discriminator width (channels)", minimum=1)),
        recommended={"epochs": 4, "batch_size": 64, "g_width": 64, "d_width": 64},
        references=("https://arxiv.org/abs/1802.05957", "https://arxiv.org/abs/1802.05637"))

    default_loss = "hinge"
    tiny_config = {"image_shape": (8, 8, 1), "num_classes": 3, "latent_dim": 8, "g_width": 8,
                   "d_width": 8}

    def __init__(self, image_shape=(32, 32, 3), num_classes=None, latent_dim=128, g_width=256,
                 d_width=128, **kwargs):
        self.num_classes = (None if num_classes is None
                            else validate_num_classes(num_classes, "SNGAN"))
        self.image_shape = validate_image_shape(image_shape)
        self.g_width = int(g_width)
        self.d_width = int(d_width)
        with precision.dtype_scope(kwargs.get("dtype")):
            generator = build_generator(self.image_shape, latent_dim, self.g_width,
                                        self.num_classes)
            discriminator = build_discriminator(self.image_shape, self.d_width, self.num_classes)
        super().__init__(generator, discriminator, latent_dim=latent_dim, **kwargs)

    def default_optimizers(self):
        return (
            keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9),
            keras.optimizers.Adam(4e-4, beta_1=0.0, beta_2=0.9),
        )

    def get_config(self):
        config = super().get_config()
        config.update(image_shape=list(self.image_shape), num_classes=self.num_classes,
                      g_width=self.g_width, d_width=self.d_width)
        return config
