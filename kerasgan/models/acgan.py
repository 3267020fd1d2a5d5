"""ACGAN (Odena, Olah & Shlens 2017): an auxiliary classifier in the discriminator."""

import keras
from keras import layers, ops

from kerasgan import precision
from kerasgan.models import register
from kerasgan.spec import FamilySpec, Option, LATENT_TO_IMAGE, LABELS_REQUIRED
from kerasgan.models.conditional import ConditionalGAN, label_input
from kerasgan.models.dcgan import (
    _init, discriminator_trunk, generator_trunk, validate_image_shape,
)


def build_generator(image_shape, num_classes, latent_dim=100, width=64, name="generator"):
    """ACGAN generator: ``z`` multiplied element-wise by a learned embedding of
    the label (as in the authors' Keras code), then the DCGAN generator.

    Returns:
        A ``keras.Model`` with inputs ``[z (latent_dim,), labels ()]`` and output
        ``images`` ``(H, W, C)`` in [-1, 1].
    """
    z = keras.Input((latent_dim,), name="z")
    labels = label_input()
    embedded = layers.Embedding(
        num_classes, latent_dim, embeddings_initializer="glorot_normal", name="label_embedding"
    )(labels)
    x = layers.Multiply(name="join")([z, embedded])
    return keras.Model([z, labels], generator_trunk(x, image_shape, width), name=name)


def build_discriminator(image_shape, num_classes, width=64, name="discriminator"):
    """ACGAN discriminator: the DCGAN discriminator with two heads on the same
    features, the real/fake logit and the class logits.

    Returns:
        A ``keras.Model`` from ``images`` to ``[logits (1,), class_logits
        (num_classes,)]``.
    """
    images = keras.Input(validate_image_shape(image_shape), name="images")
    features = discriminator_trunk(images, image_shape, width)
    logits = layers.Dense(1, kernel_initializer=_init(), dtype="float32", name="logits")(features)
    class_logits = layers.Dense(num_classes, kernel_initializer=_init(), dtype="float32",
                                name="class_logits")(features)
    return keras.Model(images, [logits, class_logits], name=name)


def class_loss(class_logits, labels):
    """Per-example softmax cross-entropy of the auxiliary classifier."""
    return keras.losses.sparse_categorical_crossentropy(
        labels, ops.cast(class_logits, "float32"), from_logits=True)


@register("acgan")
@keras.saving.register_keras_serializable(package="kerasgan")
class ACGAN(ConditionalGAN):
    """Auxiliary Classifier GAN.

    The generator gets ``z`` and a class; the discriminator says real/fake *and*
    which class. Both networks minimise the classifier's cross-entropy: the
    discriminator on real and generated images, the generator on its own
    (Odena et al., eq. 2-3: D maximises L_S + L_C, G maximises L_C - L_S).
    DCGAN networks, non-saturating loss, Adam(2e-4, beta_1=0.5).

    Logged: ``d_cls`` (class loss on real and fake, for D) and ``g_cls`` (on
    fake, for G).

    Args:
        image_shape: ``(H, W, C)`` of the images.
        num_classes: number of classes.
        latent_dim: size of ``z``.
        width: channel width.
        class_weight: weight of the class loss (1 in the paper).
        **kwargs: :class:`kerasgan.GAN` arguments.

    References:
        Odena, Olah and Shlens, "Conditional Image Synthesis with Auxiliary
        Classifier GANs", ICML 2017 (arXiv:1610.09585).

    Example:
        >>> gan = kerasgan.models.ACGAN(image_shape=(28, 28, 1), num_classes=10)
        >>> gan.compile()
        >>> gan.fit(kerasgan.data.load("mnist-10k", batch_size=64, labels=True), epochs=5)
        >>> sevens = gan.generate(16, labels=7, seed=0)
    """

    spec = FamilySpec(
        kind=LATENT_TO_IMAGE, batch="labelled_images", labels=LABELS_REQUIRED,
        summary="Auxiliary-classifier GAN (Odena et al. 2017)",
        options=(Option("latent_dim", help="size of z", minimum=1),
                 Option("width", help="network width (channels)", minimum=1),
                 Option("class_weight", help="weight of the auxiliary classification loss",
                        minimum=0.0)),
        recommended={"epochs": 10, "batch_size": 64},
        references=("https://arxiv.org/abs/1610.09585",))

    tiny_config = {"image_shape": (8, 8, 1), "num_classes": 3, "latent_dim": 8, "width": 4}

    def __init__(self, image_shape=(28, 28, 1), num_classes=10, latent_dim=100, width=64,
                 class_weight=1.0, **kwargs):
        self._set_classes(num_classes)
        self.image_shape = validate_image_shape(image_shape)
        self.width = int(width)
        self.class_weight = float(class_weight)
        with precision.dtype_scope(kwargs.get("dtype")):
            generator = build_generator(self.image_shape, self.num_classes, latent_dim, self.width)
            discriminator = build_discriminator(self.image_shape, self.num_classes, self.width)
        super().__init__(generator, discriminator, latent_dim=latent_dim, **kwargs)

    def penalty_names(self):
        return ["d_cls", "g_cls", *super().penalty_names()]

    def discriminator_aux_loss(self, real_out, fake_out, real_labels, generator_inputs):
        fake_labels = self.fake_labels(generator_inputs)
        cls = class_loss(real_out[1], real_labels) + class_loss(fake_out[1], fake_labels)
        return self.class_weight * cls, {"d_cls": cls}

    def generator_aux_loss(self, fake_out, generator_inputs):
        cls = class_loss(fake_out[1], self.fake_labels(generator_inputs))
        return self.class_weight * cls, {"g_cls": cls}

    def get_config(self):
        config = super().get_config()
        config.update(image_shape=list(self.image_shape), width=self.width,
                      class_weight=self.class_weight)
        return config
