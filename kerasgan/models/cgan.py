"""CGAN (Mirza & Osindero 2014): the class label fed to both networks."""

import keras
from keras import layers

from kerasgan import precision
from kerasgan.models import register
from kerasgan.spec import FamilySpec, Option, LATENT_TO_IMAGE, LABELS_REQUIRED
from kerasgan.models.conditional import ConditionalGAN, label_input
from kerasgan.models.dcgan import (
    _init, discriminator_trunk, generator_trunk, validate_image_shape,
)


def build_generator(image_shape, num_classes, latent_dim=100, width=64, embed_dim=50,
                    name="generator"):
    """CGAN generator: ``z`` joined with a learned label embedding, then the
    DCGAN generator.

    Returns:
        A ``keras.Model`` with inputs ``[z (latent_dim,), labels ()]`` (int32)
        and output ``images`` ``(H, W, C)`` in [-1, 1].
    """
    z = keras.Input((latent_dim,), name="z")
    labels = label_input()
    embedded = layers.Embedding(num_classes, embed_dim, name="label_embedding")(labels)
    x = layers.Concatenate(name="join")([z, embedded])
    return keras.Model([z, labels], generator_trunk(x, image_shape, width), name=name)


def build_discriminator(image_shape, num_classes, width=64, name="discriminator"):
    """CGAN discriminator: the label, embedded as one extra image-sized channel,
    is stacked on the image; then the DCGAN discriminator.

    Returns:
        A ``keras.Model`` from ``[images, labels]`` to ``logits`` ``(1,)``.
    """
    image_shape = validate_image_shape(image_shape)
    height, width_px, _ = image_shape
    images = keras.Input(image_shape, name="images")
    labels = label_input()
    plane = layers.Embedding(num_classes, height * width_px, name="label_embedding")(labels)
    plane = layers.Reshape((height, width_px, 1), name="label_plane")(plane)
    x = layers.Concatenate(axis=-1, name="join")([images, plane])
    features = discriminator_trunk(x, image_shape, width)
    logits = layers.Dense(1, kernel_initializer=_init(), dtype="float32", name="logits")(features)
    return keras.Model([images, labels], logits, name=name)


@register("cgan")
@keras.saving.register_keras_serializable(package="kerasgan")
class CGAN(ConditionalGAN):
    """Conditional GAN: generator and discriminator both see the class label.

    The paper's idea (condition both players on ``y``) on DCGAN networks rather
    than its maxout MLPs: the generator joins ``z`` with a 50-d label embedding;
    the discriminator gets the label as a learned extra image channel. The
    discriminator judges (image, label) pairs, so a real digit shown with the
    wrong label is "fake" and the generator must honour the label.
    Non-saturating loss and Adam(2e-4, beta_1=0.5).

    Args:
        image_shape: ``(H, W, C)`` of the images.
        num_classes: number of classes (10 for MNIST).
        latent_dim: size of ``z``.
        width: channel width.
        embed_dim: size of the generator's label embedding.
        **kwargs: :class:`kerasgan.GAN` arguments.

    References:
        Mirza and Osindero, "Conditional Generative Adversarial Nets", 2014
        (arXiv:1411.1784).

    Example:
        >>> gan = kerasgan.models.CGAN(image_shape=(28, 28, 1), num_classes=10)
        >>> gan.compile()
        >>> gan.fit(kerasgan.data.load("mnist-10k", batch_size=64, labels=True), epochs=5)
        >>> sevens = gan.generate(16, labels=7, seed=0)
    """

    spec = FamilySpec(
        kind=LATENT_TO_IMAGE, batch="labelled_images", labels=LABELS_REQUIRED,
        summary="Conditional GAN: class labels into G and D (Mirza & Osindero 2014)",
        options=(Option("latent_dim", help="size of z", minimum=1),
                 Option("width", help="network width (channels)", minimum=1)),
        recommended={"epochs": 5, "batch_size": 64},
        references=("https://arxiv.org/abs/1411.1784",))

    tiny_config = {"image_shape": (8, 8, 1), "num_classes": 3, "latent_dim": 8, "width": 4,
                   "embed_dim": 4}

    def __init__(self, image_shape=(28, 28, 1), num_classes=10, latent_dim=100, width=64,
                 embed_dim=50, **kwargs):
        self._set_classes(num_classes)
        self.image_shape = validate_image_shape(image_shape)
        self.width = int(width)
        self.embed_dim = int(embed_dim)
        with precision.dtype_scope(kwargs.get("dtype")):
            generator = build_generator(self.image_shape, self.num_classes, latent_dim,
                                        self.width, self.embed_dim)
            discriminator = build_discriminator(self.image_shape, self.num_classes, self.width)
        super().__init__(generator, discriminator, latent_dim=latent_dim, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(image_shape=list(self.image_shape), width=self.width,
                      embed_dim=self.embed_dim)
        return config
