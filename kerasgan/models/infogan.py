"""InfoGAN (Chen et al. 2016): latent codes the generator must keep recoverable."""

import keras
from keras import layers, ops

from kerasgan.gan import GAN
from kerasgan import precision
from kerasgan.models import register
from kerasgan.spec import FamilySpec, Option, LATENT_TO_IMAGE
from kerasgan.models.dcgan import (
    _init, discriminator_trunk, generator_trunk, validate_image_shape,
)


def build_generator(image_shape, latent_dim=62, num_categories=10, num_continuous=2, width=64,
                    name="generator"):
    """InfoGAN generator: ``z``, the one-hot categorical code and the continuous
    codes, joined, then the DCGAN generator.

    Returns:
        A ``keras.Model`` with inputs ``[z (latent_dim,), c_cat () int32,
        c_cont (num_continuous,)]`` and output ``images`` in [-1, 1].
    """
    z = keras.Input((latent_dim,), name="z")
    c_cat = keras.Input((), dtype="int32", name="c_cat")
    c_cont = keras.Input((num_continuous,), name="c_cont")
    # one-hot as a frozen identity embedding: a plain Gather in every export format
    one_hot = layers.Embedding(num_categories, num_categories, embeddings_initializer="identity",
                               trainable=False, name="c_cat_one_hot")(c_cat)
    x = layers.Concatenate(name="join")([z, one_hot, c_cont])
    return keras.Model([z, c_cat, c_cont], generator_trunk(x, image_shape, width), name=name)


def build_discriminator(image_shape, num_categories=10, num_continuous=2, width=64,
                        q_width=128, name="discriminator"):
    """InfoGAN discriminator: the DCGAN discriminator's features shared by the
    real/fake logit and the recognition network Q (one hidden layer, then the
    categorical logits and the continuous codes' means).

    Returns:
        A ``keras.Model`` from ``images`` to ``[logits (1,), q_cat_logits
        (num_categories,), q_cont (num_continuous,)]``.
    """
    images = keras.Input(validate_image_shape(image_shape), name="images")
    features = discriminator_trunk(images, image_shape, width)
    logits = layers.Dense(1, kernel_initializer=_init(), dtype="float32", name="logits")(features)
    q = layers.Dense(q_width, kernel_initializer=_init(), name="q_hidden")(features)
    q = layers.LeakyReLU(0.2, name="q_lrelu")(q)
    q_cat = layers.Dense(num_categories, kernel_initializer=_init(), dtype="float32",
                         name="q_cat_logits")(q)
    q_cont = layers.Dense(num_continuous, kernel_initializer=_init(), dtype="float32",
                          name="q_cont")(q)
    return keras.Model(images, [logits, q_cat, q_cont], name=name)


@register("infogan")
@keras.saving.register_keras_serializable(package="kerasgan")
class InfoGAN(GAN):
    """Information-maximising GAN.

    The generator takes noise ``z`` plus latent codes: a categorical code
    ``c_cat`` (``num_categories`` values, uniform) and ``num_continuous``
    continuous codes ``c_cont`` (uniform in [-1, 1]). A recognition head Q on the
    discriminator's features predicts the codes from the image; the mutual-
    information lower bound L_I (cross-entropy for ``c_cat``, a unit-variance
    Gaussian log-likelihood, i.e. half the squared error, for ``c_cont``) is
    minimised by the generator and by D+Q, as in the paper's objective
    ``min_{G,Q} max_D V(D, G) - lambda L_I(G, Q)`` and TF-GAN's
    ``mutual_information_penalty``. So the codes come to control
    interpretable factors (on MNIST: digit class, then slant and width).

    The codes are explicit generator inputs (``z``, ``c_cat``, ``c_cont``), in
    the exported model too; fix them with ``generate(n, codes={"c_cat": 3})``.
    MNIST defaults from the paper: 62-d ``z``, one 10-way code, two continuous
    codes, lambda 1 for the categorical code; 0.1 for the continuous ones (the
    paper uses a smaller lambda for continuous codes); Adam 2e-4 for D, 1e-3 for
    G, beta_1 = 0.5.

    Logged: ``info`` (L_I on generated images, weighted).

    Args:
        image_shape: ``(H, W, C)`` of the images.
        latent_dim: size of ``z`` (62).
        num_categories: values of the categorical code (10).
        num_continuous: number of continuous codes (2).
        width: channel width.
        info_weight: lambda of the categorical term (1).
        continuous_weight: lambda of the continuous term (0.1).
        **kwargs: :class:`kerasgan.GAN` arguments.

    References:
        Chen, Duan, Houthooft, Schulman, Sutskever and Abbeel, "InfoGAN:
        Interpretable Representation Learning by Information Maximizing
        Generative Adversarial Nets", NeurIPS 2016 (arXiv:1606.03657).

    Example:
        >>> gan = kerasgan.models.InfoGAN(image_shape=(28, 28, 1))
        >>> gan.compile()
        >>> gan.fit(kerasgan.data.load("mnist-10k", batch_size=64), epochs=5)
        >>> row = gan.generate(10, seed=0, codes={"c_cat": 3, "c_cont": [[v, 0] for v in
        ...                                       np.linspace(-1, 1, 10)]})
    """

    spec = FamilySpec(
        kind=LATENT_TO_IMAGE, batch="images",
        summary="InfoGAN: categorical and continuous latent codes (Chen et al. 2016)",
        options=(Option("latent_dim", help="size of the noise part of z", minimum=1),
                 Option("width", help="network width (channels)", minimum=1),
                 Option("info_weight", help="weight of the mutual-information term",
                        minimum=0.0)),
        recommended={"epochs": 5, "batch_size": 64},
        references=("https://arxiv.org/abs/1606.03657",))

    tiny_config = {"image_shape": (8, 8, 1), "latent_dim": 8, "num_categories": 3,
                   "num_continuous": 2, "width": 4}

    def __init__(self, image_shape=(28, 28, 1), latent_dim=62, num_categories=10,
                 num_continuous=2, width=64, info_weight=1.0, continuous_weight=0.1, **kwargs):
        self.image_shape = validate_image_shape(image_shape)
        self.num_categories = int(num_categories)
        self.num_continuous = int(num_continuous)
        if self.num_categories < 2 or self.num_continuous < 0:
            raise ValueError(
                f"InfoGAN needs num_categories >= 2 and num_continuous >= 0, got "
                f"{num_categories} and {num_continuous}")
        self.width = int(width)
        self.info_weight = float(info_weight)
        self.continuous_weight = float(continuous_weight)
        with precision.dtype_scope(kwargs.get("dtype")):
            generator = build_generator(self.image_shape, latent_dim, self.num_categories,
                                        self.num_continuous, self.width)
            discriminator = build_discriminator(self.image_shape, self.num_categories,
                                                self.num_continuous, self.width)
        super().__init__(generator, discriminator, latent_dim=latent_dim, **kwargs)

    def generator_inputs(self):
        return [
            {"name": "z", "shape": [self.latent_dim], "dtype": "float32", "sampler": "normal"},
            {"name": "c_cat", "shape": [], "dtype": "int32", "sampler": "categorical",
             "num_classes": self.num_categories},
            {"name": "c_cont", "shape": [self.num_continuous], "dtype": "float32",
             "sampler": "uniform", "low": -1.0, "high": 1.0},
        ]

    def sample_grid(self, n, seed=None):
        """One row per value of the categorical code, the same ``z`` and
        ``c_cont`` in every row."""
        per_row = max(1, int(n) // self.num_categories)
        return self._class_rows("c_cat", self.num_categories, per_row, seed), per_row

    def default_optimizers(self):
        return (
            keras.optimizers.Adam(1e-3, beta_1=0.5),
            keras.optimizers.Adam(2e-4, beta_1=0.5),
        )

    def penalty_names(self):
        return ["info", *super().penalty_names()]

    def info_loss(self, fake_out, generator_inputs):
        """Per-example L_I: the codes' negative log-likelihood under Q
        (constants dropped), weighted."""
        _, c_cat, c_cont = generator_inputs
        _, q_cat, q_cont = fake_out
        # in float32, whatever the discriminator computes in
        q_cat, q_cont = ops.cast(q_cat, "float32"), ops.cast(q_cont, "float32")
        cat = keras.losses.sparse_categorical_crossentropy(c_cat, q_cat, from_logits=True)
        cont = 0.5 * ops.sum(ops.square(ops.cast(c_cont, "float32") - q_cont), axis=-1)
        return self.info_weight * cat + self.continuous_weight * cont

    def discriminator_aux_loss(self, real_out, fake_out, real_labels, generator_inputs):
        info = self.info_loss(fake_out, generator_inputs)
        return info, {}

    def generator_aux_loss(self, fake_out, generator_inputs):
        info = self.info_loss(fake_out, generator_inputs)
        return info, {"info": info}

    def get_config(self):
        config = super().get_config()
        config.update(image_shape=list(self.image_shape), num_categories=self.num_categories,
                      num_continuous=self.num_continuous, width=self.width,
                      info_weight=self.info_weight, continuous_weight=self.continuous_weight)
        return config
