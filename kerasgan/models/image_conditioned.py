"""Pieces the image-conditioned families share (Pix2Pix, CycleGAN, SRGAN): a generator that takes an image instead of a latent, ``(inputs,
targets)`` data batches, ``translate`` and triplet grids."""

import numpy as np
import tensorflow as tf

from kerasgan.gan import GAN, _input_check
from kerasgan.sampling import check_image, infer_input_specs


def validate_shape(shape, what):
    """An ``(H, W, C)`` shape with C in 1, 3, 4, as a tuple of ints."""
    try:
        out = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be (height, width, channels), got {shape!r}") from None
    if len(out) != 3 or min(out) < 1:
        raise ValueError(f"{what} must be (height, width, channels), got {shape!r}")
    if out[-1] not in (1, 3, 4):
        raise ValueError(f"{what} needs 1, 3 or 4 channels, got {out[-1]}")
    return out


class ImageConditionedGAN(GAN):
    """A GAN whose generator maps an input image to an output image.

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

    Subclasses set :attr:`image_shape` (output), :attr:`input_shape_` (input)
    and :attr:`size_multiple` before calling ``GAN.__init__``, and write the
    train step with :meth:`_unpack_pair`.
    """

    #: the generator takes images, not latents
    image_conditioned = True
    #: names of the two images of a data batch, in messages
    pair_names = ("inputs", "targets")
    #: how to make the data, in messages
    data_hint = "kerasgan.data.open_paired(...).dataset(...)"

    def _finish_init(self):
        # there is no latent: GAN.__init__ read the input's channel count
        self.latent_dim = None

    def get_config(self):
        config = super().get_config()
        config.pop("latent_dim", None)
        return config

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
            if isinstance(n, (list, tuple, np.ndarray, tf.Tensor)):
                return self.translate(n, batch_size=min(int(batch_size), 64))
        return super().generate(n, seed=seed, batch_size=batch_size, labels=labels, codes=codes)

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
        inputs, targets = (tf.convert_to_tensor(x) for x in data)
        first, second = self.pair_names
        for what, x, channels in ((first, inputs, self.input_shape_[-1]),
                                  (second, targets, self.image_shape[-1])):
            if not x.dtype.is_floating:
                raise ValueError(f"{self.family}: {what} must be floats in [-1, 1], got "
                                 f"{x.dtype.name}: scale pixels with x / 127.5 - 1")
            if x.shape.rank is not None and x.shape.rank != 4:
                raise ValueError(f"{self.family}: {what} must be NHWC image batches, got shape "
                                 f"{tuple(x.shape)}")
            if x.shape[-1] is not None and x.shape[-1] != channels:
                raise ValueError(
                    f"{self.family}: {what} {_verb(what, 'have')} {x.shape[-1]} channels, the model takes "
                    f"{channels}: build it with the data's channel counts (input_channels=, "
                    "image_shape=) or convert the images")
        # the inputs' size is input_shape_'s (the targets' for the translation
        # families; the targets' divided by the scale for super-resolution)
        for what, x, expected in ((first, inputs, tuple(self.input_shape_[:2])),
                                  (second, targets, tuple(self.image_shape[:2]))):
            size = tuple(x.shape[1:3])
            if None not in size and size != expected:
                raise ValueError(self._size_error(what, size, expected))
        inputs, targets = tf.cast(inputs, tf.float32), tf.cast(targets, tf.float32)
        if self._xla():
            return inputs, targets
        peak = tf.maximum(tf.reduce_max(tf.abs(inputs)), tf.reduce_max(tf.abs(targets)))
        check = tf.debugging.assert_less_equal(peak, 1.0 + 1e-3, message=_input_check(
            "images must be floats in [-1, 1] without NaN or Inf: scale pixels with "
            "x / 127.5 - 1 and check the data for NaN"))
        with tf.control_dependencies([check]):
            return tf.identity(inputs), tf.identity(targets)


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


def triplet_png(gan, inputs, targets, path, scale=1):
    """Writes a grid of (input, output, target) rows to ``path``; returns it."""
    from kerasgan.images import save_grid

    images, nrow = gan.triplets(inputs, targets)
    return save_grid(images, path, nrow=nrow, scale=scale)


__all__ = ["ImageConditionedGAN", "triplet_png", "validate_shape"]
