"""LSGAN (Mao et al. 2017): least-squares losses on the DCGAN networks."""

import keras

from kerasgan.models import register
from kerasgan.spec import FamilySpec, Option, LATENT_TO_IMAGE
from kerasgan.models.dcgan import DCGAN


@register("lsgan")
@keras.saving.register_keras_serializable(package="kerasgan")
class LSGAN(DCGAN):
    """Least Squares GAN.

    The DCGAN networks trained with the least-squares losses of the paper's
    0-1 coding (a = 0, b = c = 1): D minimises ``((D(x) - 1)^2 + D(G(z))^2) / 2``,
    G minimises ``(D(G(z)) - 1)^2 / 2`` (``kerasgan.losses.least_squares_*``).
    The discriminator's output stays linear (no sigmoid), as the paper requires.
    Adam(2e-4, beta_1=0.5) as in the paper's experiments.

    Args:
        image_shape: ``(H, W, C)`` of the images.
        latent_dim: size of ``z``.
        width: channel width.
        **kwargs: :class:`kerasgan.GAN` arguments.

    References:
        Mao, Li, Xie, Lau, Wang and Smolley, "Least Squares Generative Adversarial
        Networks", ICCV 2017 (arXiv:1611.04076).
    """

    spec = FamilySpec(
        kind=LATENT_TO_IMAGE, batch="images",
        summary="Least-squares GAN on the DCGAN networks (Mao et al. 2017)",
        options=(Option("latent_dim", help="size of z", minimum=1),
                 Option("width", help="network width (channels)", minimum=1)),
        recommended={"epochs": 5, "batch_size": 128},
        references=("https://arxiv.org/abs/1611.04076",))

    default_loss = "least_squares"
