"""WGAN-GP (Gulrajani et al. 2017)."""

import keras

from kerasgan import penalties
from kerasgan.models import register
from kerasgan.spec import FamilySpec, Option, LATENT_TO_IMAGE
from kerasgan.models.dcgan import DCGAN


class GradientPenaltyMixin:
    """WGAN-GP's gradient penalty as a :class:`kerasgan.GAN` discriminator
    penalty, ``gp_weight`` times the per-example penalty on random
    interpolates, logged as ``gp``; shared by WGAN-GP and ProGAN. Put it before
    the GAN class in the bases; the model sets ``self.gp_weight``."""

    def discriminator_penalty(self, real, fake, noise, labels=None):
        # float32, loss-scaled inside under mixed_float16 (see kerasgan.penalties)
        gp = penalties.gradient_penalty(self.critic(labels), real, fake, noise,
                                        loss_scale=self.penalty_loss_scale())
        penalty, logs = super().discriminator_penalty(real, fake, noise, labels)
        total = self.gp_weight * gp if penalty is None else self.gp_weight * gp + penalty
        return total, {"gp": gp, **logs}

    def penalty_names(self):
        return ["gp", *super().penalty_names()]


@register("wgan_gp")
@keras.saving.register_keras_serializable(package="kerasgan")
class WGANGP(GradientPenaltyMixin, DCGAN):
    """Wasserstein GAN with gradient penalty.

    DCGAN networks, except that the critic has no batch normalisation (the
    penalty is per example; the paper suggests layer norm as a replacement, set
    ``critic_normalization="layer"``). Wasserstein loss, ``d_steps=5`` critic
    updates per generator update, penalty weight 10 and Adam(1e-4, 0.0, 0.9),
    all as in the paper.

    The penalty uses one interpolation coefficient per example, drawn from the
    model's seed generator for the global batch.

    Args:
        image_shape: ``(H, W, C)`` of the images.
        latent_dim: size of ``z``.
        width: channel width.
        gp_weight: gradient-penalty weight (lambda, 10 in the paper).
        critic_normalization: ``"none"`` (default) or ``"layer"``.
        d_steps: critic updates per generator update (5).
        **kwargs: other :class:`kerasgan.GAN` arguments.

    References:
        Gulrajani, Ahmed, Arjovsky, Dumoulin and Courville, "Improved Training of
        Wasserstein GANs", NeurIPS 2017 (arXiv:1704.00028).
    """

    spec = FamilySpec(
        kind=LATENT_TO_IMAGE, batch="images",
        excluded_common_options=("r1_gamma",),  # its gradient penalty replaces R1
        summary="Wasserstein GAN with gradient penalty (Gulrajani et al. 2017)",
        options=(Option("latent_dim", help="size of z", minimum=1),
                 Option("width", help="network width (channels)", minimum=1),
                 Option("gp_weight", help="gradient-penalty weight (lambda)", minimum=0.0)),
        recommended={"epochs": 5, "batch_size": 64},
        references=("https://arxiv.org/abs/1704.00028",))

    default_loss = "wasserstein"
    tiny_config = {"image_shape": (8, 8, 1), "latent_dim": 8, "width": 4, "d_steps": 2}

    def __init__(
        self,
        image_shape=(28, 28, 1),
        latent_dim=100,
        width=64,
        gp_weight=10.0,
        critic_normalization="none",
        d_steps=5,
        **kwargs,
    ):
        self.gp_weight = float(gp_weight)
        self.critic_normalization = critic_normalization
        self.discriminator_normalization = critic_normalization
        super().__init__(image_shape, latent_dim, width, d_steps=d_steps, **kwargs)

    def default_optimizers(self):
        return (
            keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9),
            keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9),
        )


    def get_config(self):
        config = super().get_config()
        config.update(gp_weight=self.gp_weight, critic_normalization=self.critic_normalization)
        return config
