"""The training core: the adversarial base and its kinds.

- :mod:`kerasgan.core.adversarial`: :class:`AdversarialModel`, the base of
  every two-player model (two networks, two optimizers, the shared update,
  EMA, trackers, save/load, presets, ``fit``);
- :mod:`kerasgan.core.image_to_image`: :class:`ImageConditionedGAN`, the image
  → image kind (paired, unpaired and super-resolution translation); the latent → image kind is
  :class:`kerasgan.gan.GAN`;
- :mod:`kerasgan.core.tf_step`: the TensorFlow side of the step (tapes, the
  update helper :func:`~kerasgan.core.tf_step.minimize`, in-graph checks),
  with :mod:`kerasgan.distribute` (replica context, batch layout);
- :mod:`kerasgan.core.predict`: :func:`predict`, inference correct under a
  strategy.

In the import order the core sits above layers, losses and penalties and
below the families (:mod:`kerasgan.models`); it imports nothing above it.
"""

from kerasgan.core.adversarial import AdversarialModel, register_preset_loader
from kerasgan.core.image_to_image import ImageConditionedGAN
from kerasgan.core.predict import predict

__all__ = ["AdversarialModel", "ImageConditionedGAN", "predict", "register_preset_loader"]
