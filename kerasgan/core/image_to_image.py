"""`ImageConditionedGAN`: the image → image kind (paired, unpaired, super-resolution).

A generator that takes an image instead of a latent, ``(inputs, targets)``
data batches, ``translate`` and triplet grids. It sits under
:class:`kerasgan.core.AdversarialModel` beside the latent → image
:class:`kerasgan.GAN`, and does not inherit it.
"""

import numpy as np
import keras
from keras import ops

from kerasgan.core import tf_step
from kerasgan.core.adversarial import AdversarialModel
from kerasgan.sampling import check_image, infer_input_specs

#: the message of the in-graph check of data images' values
IMAGE_RANGE_CHECK = ("images must be floats in [-1, 1] without NaN or Inf: scale pixels with "
                     "x / 127.5 - 1 and check the data for NaN")

__all__ = ["ImageConditionedGAN"]


class ImageConditionedGAN(AdversarialModel):
    """The image → image kind: a generator that maps an input image to an output image.

    The generator has one input, ``inputs`` ``(H, W, C_in)`` (height and width
    may be dynamic, multiples of :attr:`size_multiple`), and one output, the
    translated images ``(H, W, C_out)`` in [-1, 1]. Data batches are ``(inputs,
    targets)`` pairs (or dicts with those keys), both float32 NHWC in [-1, 1],
    as :meth:`kerasgan.data.PairedImageSource.dataset` yields them.

    The API:

    - :meth:`translate` (or ``generate(images)``): input images → output images;
    - ``generate(n, seed=...)`` translates ``n`` uniform-noise images drawn
      from the seed (the seed rule of :mod:`kerasgan.sampling`): what export
      parity checks and the deployment kit's ``generate`` use; not a
      meaningful output;
    - :meth:`triplets`: input / output / target rows for a grid.

    It has the arguments of :class:`kerasgan.core.AdversarialModel` only
    (``ema_decay``, ``seed``, ``name``, ``dtype``): no ``latent_dim`` (there is
    no latent; the attribute is None for readers that ask any family), no
    ``d_steps`` (one discriminator update per generator update), no
    ``r1_gamma``. A config saved before these were removed loads when they hold
    those no-op values (:meth:`from_config`).

    Subclasses set :attr:`image_shape` (output), :attr:`input_shape_` (input)
    and :attr:`size_multiple` before calling ``ImageConditionedGAN.__init__``,
    and write the train step with :meth:`_unpack_pair` and :meth:`minimize`.

    Args:
        generator: the ``keras.Model`` from input images to output images.
        discriminator: the ``keras.Model`` that judges (pairs of) images.
        ema_decay: when set, keeps an EMA of the generator for inference.
        seed: seed of the model's ``keras.random.SeedGenerator``.
        **kwargs: ``keras.Model`` arguments (``name``, ``dtype``).
    """

    #: the generator takes images, not latents
    image_conditioned = True
    #: the discriminator judges images: ``augment`` applies (:meth:`judge`)
    augments_images = True
    #: names of the two images of a data batch, in messages
    pair_names = ("inputs", "targets")
    #: how to make the data, in messages
    data_hint = "kerasgan.data.open_paired(...).dataset(...)"

    #: no latent vector (for readers that ask any family for ``latent_dim``)
    latent_dim = None
    #: discriminator updates per generator update: always one (a fact of the
    #: kind's step for readers that ask any family, not an argument)
    d_steps = 1
    #: arguments of the latent → image kind that this kind does not take, with
    #: the value that made them a no-op in configs saved before they were removed
    LEGACY_ARGUMENTS = {"latent_dim": None, "d_steps": 1, "r1_gamma": 0.0}

    def __init__(self, generator, discriminator, ema_decay=None, seed=None, **kwargs):
        self._refuse_legacy_arguments(kwargs)
        super().__init__(generator, discriminator, ema_decay=ema_decay, seed=seed, **kwargs)

    def judge(self, discriminator, images, condition=None):
        """``discriminator``'s float32 output on ``images`` in a training step,
        augmented when the model has ``augment``; a paired discriminator gets
        ``[condition, images]``, both under the *same* transform (they are
        augmented as one channel-concatenated image), so the pair stays aligned."""
        if condition is None:
            return self._float32(discriminator(self.augment_images(images), training=True))
        if self.augmentation is None:
            return self._float32(discriminator([condition, images], training=True))
        split = condition.shape[-1]
        joint = self.augment_images(ops.concatenate(
            [ops.cast(condition, "float32"), ops.cast(images, "float32")], axis=-1))
        return self._float32(discriminator([joint[..., :split], joint[..., split:]],
                                           training=True))

    def _refuse_legacy_arguments(self, kwargs):
        given = sorted(k for k in self.LEGACY_ARGUMENTS if k in kwargs)
        if not given:
            return
        family = getattr(self, "family", type(self).__name__)
        reasons = {
            "latent_dim": "there is no latent vector: the generator takes images",
            "d_steps": "it makes one discriminator update per generator update: d_steps must be 1",
            "r1_gamma": "it has no R1 penalty",
        }
        raise ValueError(
            f"{family} is an image-to-image family and takes no {', '.join(given)} argument ("
            + "; ".join(reasons[k] for k in given) + "): leave "
            + ("it" if len(given) == 1 else "them") + " out")

    def get_config(self):
        return self._base_config()

    @classmethod
    def from_config(cls, config):
        """Builds the model from ``get_config()``; a config saved before the
        core redesign may hold ``latent_dim``/``d_steps``/``r1_gamma``: they are
        dropped when they hold the no-op value (None, 1, 0), else refused.

        Raises:
            ValueError: a legacy key with another value; the message says what to do.
        """
        config = dict(config)
        for key, noop in cls.LEGACY_ARGUMENTS.items():
            if key not in config:
                continue
            value = config.pop(key)
            if value != noop and not (noop == 0.0 and value is None):
                raise ValueError(
                    f"this saved {cls.family} config has {key}={value!r}, which image-to-image "
                    f"families no longer take (they never used it: {key} is {noop!r} for them); "
                    f"remove {key!r} from the config (config.json of the .keras file) and load "
                    "it again")
        return cls(**config)

    # -------------------------------------------------------------- inputs
    def generator_inputs(self):
        return infer_input_specs(self.generator, image_shape=self.input_shape_,
                                 size_multiple=self.size_multiple)

    def latents(self, n, seed=None):
        raise ValueError(f"{self.family} is image-conditioned: it has no latents; "
                         "translate input images with translate(images)")

    def check_inputs(self, images, n=None):
        """Validates input images (float NHWC in [-1, 1], the input channels, a
        size the network takes); returns float32 ``(N, H, W, C)``.

        Raises:
            ValueError: what is wrong and what to do.
        """
        if isinstance(images, (int, np.integer)) and not isinstance(images, bool):
            raise ValueError(f"{self.family} translates images: pass input images, not a count")
        try:
            return check_image(images, self.generator_inputs()[0], n)
        except ValueError as e:
            raise ValueError(f"{self.family}: {e}") from None

    def translate(self, images, batch_size=16):
        """Translates input images (float NHWC in [-1, 1]; one ``(H, W, C)``
        image is a batch of one) with the sampling generator (the EMA one when
        enabled), in inference mode.

        Returns:
            float32 ``(N, H, W, C_out)`` in [-1, 1].

        Raises:
            ValueError: wrong channels, a size the network does not take, values
                outside [-1, 1], NaN.
        """
        x = self.check_inputs(images)
        return self._predict(self.sampling_generator, x, int(batch_size))

    def generate(self, n, seed=None, batch_size=256, labels=None, codes=None):
        """``generate(images)`` is :meth:`translate`; ``generate(n, seed)``
        translates ``n`` noise images drawn from ``seed`` (see the class
        docstring)."""
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            if isinstance(n, (list, tuple, np.ndarray)) or tf_step.is_tensor(n):
                return self.translate(n, batch_size=min(int(batch_size), 64))
        return super().generate(n, seed=seed, batch_size=batch_size, labels=labels, codes=codes)

    def sample_grid(self, n, seed=None):
        """``n`` translations of noise images drawn from ``seed``, in a square
        grid (``(images, None)``); :meth:`triplets` shows real translations."""
        return self.generate(n, seed=seed), None

    def triplets(self, inputs, targets, batch_size=16):
        """Rows of (input, output, target) for a grid: ``(3 * N, H, W, C_out)``
        images and the row length 3 (an input with other channels than the
        output is shown converted: gray repeated to RGB, or RGB to gray)."""
        outputs = self.translate(inputs, batch_size)
        targets = np.asarray(targets, dtype="float32")
        shown = _as_channels(np.asarray(inputs, dtype="float32"), outputs.shape[-1])
        rows = np.stack([shown, outputs, targets], axis=1)
        return rows.reshape((-1, *outputs.shape[1:])), 3

    # ---------------------------------------------------------------- data
    def _size_error(self, what, size, expected):
        """The message for data images of ``size`` where ``expected`` was due."""
        return (f"{self.family}: {what} {_verb(what, 'are')} {size[0]}x{size[1]}, the model was "
                f"built for {expected[0]}x{expected[1]}: build it with image_shape=({size[0]}, "
                f"{size[1]}, ...) or resize the data")

    def call(self, inputs, training=False):
        """Input images give translated images; an ``(inputs, targets)`` pair
        gives the discriminator's output on it."""
        if isinstance(inputs, dict):
            inputs = (inputs["inputs"], inputs["targets"])
        if isinstance(inputs, (tuple, list)):
            if len(inputs) == 1:
                return self.generator(inputs[0], training=training)
            return self.discriminator(list(inputs[:2]), training=training)
        return self.generator(inputs, training=training)

    def _unpack_pair(self, data):
        """``(inputs, targets)`` of a data batch, checked: float, NHWC, the
        networks' channels, one size, a size the generator takes, values in
        [-1, 1] (an in-graph check, reported by ``fit`` as a ValueError)."""
        if isinstance(data, dict):
            if "inputs" not in data or "targets" not in data:
                raise ValueError(f"{self.family}: a dict batch needs 'inputs' and 'targets' keys, "
                                 f"got {sorted(data)}")
            data = (data["inputs"], data["targets"])
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise ValueError(
                f"{self.family} learns from image pairs: the dataset must yield "
                f"({', '.join(self.pair_names)}) batches ({self.data_hint}), not single images")
        inputs, targets = (tf_step.to_tensor(x) for x in data)
        first, second = self.pair_names
        for what, x, channels in ((first, inputs, self.input_shape_[-1]),
                                  (second, targets, self.image_shape[-1])):
            dtype = keras.backend.standardize_dtype(x.dtype)
            if "float" not in dtype:
                raise ValueError(f"{self.family}: {what} must be floats in [-1, 1], got "
                                 f"{dtype}: scale pixels with x / 127.5 - 1")
            shape = tf_step.static_shape(x)
            if shape is not None and len(shape) != 4:
                raise ValueError(f"{self.family}: {what} must be NHWC image batches, got shape "
                                 f"{shape}")
            if shape is not None and shape[-1] is not None and shape[-1] != channels:
                raise ValueError(
                    f"{self.family}: {what} {_verb(what, 'have')} {shape[-1]} channels, the model takes "
                    f"{channels}: build it with the data's channel counts (input_channels=, "
                    "image_shape=) or convert the images")
        # the inputs' size is input_shape_'s (the targets' for the translation
        # families; the targets' divided by the scale for super-resolution)
        for what, x, expected in ((first, inputs, tuple(self.input_shape_[:2])),
                                  (second, targets, tuple(self.image_shape[:2]))):
            size = tuple(x.shape[1:3])
            if None not in size and size != expected:
                raise ValueError(self._size_error(what, size, expected))
        inputs, targets = ops.cast(inputs, "float32"), ops.cast(targets, "float32")
        if self._xla():
            return inputs, targets
        peak = ops.maximum(ops.max(ops.abs(inputs)), ops.max(ops.abs(targets)))
        check = tf_step.assert_in_range(peak, 1.0 + 1e-3, IMAGE_RANGE_CHECK)
        return tf_step.guarded([check], inputs, targets)


def _verb(subject, plural):
    """``plural`` ("have", "are") for a plural subject ("targets"), else its
    singular ("has", "is") for "domain A"."""
    return plural if subject.endswith("s") else {"have": "has", "are": "is"}[plural]


def _as_channels(images, channels):
    """Images with ``channels`` channels for display: gray repeated, RGB(A) to
    gray by luma, alpha dropped."""
    have = images.shape[-1]
    if have == channels:
        return images
    if have == 1:
        return np.repeat(images, channels, axis=-1)[..., :channels]
    rgb = images[..., :3]
    if channels == 1:
        return (rgb @ np.array([0.299, 0.587, 0.114], "float32"))[..., None]
    return rgb if channels == 3 else np.concatenate([rgb, np.ones_like(rgb[..., :1])], -1)
