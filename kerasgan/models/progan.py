"""Progressive GAN (Karras et al. 2018): progressive growing with fade-in.

One static generator and one static discriminator for the final resolution,
as the official implementation's "linear" structure
(tkarras/progressive_growing_of_gans, ``networks.py``, ``G_paper``/``D_paper``):
a level of detail ``lod`` (0 = the final resolution, ``log2(res) - 2`` = 4x4)
is held in a non-trainable variable inside each network, and

- the generator computes an RGB image at every resolution and blends them,
  ``img = lerp(rgb_r, upsample(img), clip(lod - level_r, 0, 1))``, from 4x4 up
  to the final size (nearest upsampling), so at ``lod = 2.5`` it outputs the
  8x8 image half faded into the upsampled 4x4 one, upsampled to the final size;
- the discriminator mirrors it: at each resolution it blends its block's
  output with ``fromRGB`` of the 2x average-pooled input;
- real images go through the same operation (:func:`process_reals`: average
  pooling to the level of detail, blend, nearest upsampling), so the
  discriminator sees reals and fakes at the same level of detail.

The schedule (:func:`progressive_lod`) is a pure function of the number of
images shown, ``g_optimizer.iterations * global batch``: it is computed in
the train step and assigned to ``lod`` before the discriminator and generator
updates. A resumed run or a multi-worker run has the same ``lod`` as an
uninterrupted one, with no callback state; since ``lod`` is a weight, a saved
model, an export and the deployment kit produce exactly the images of the
level of detail reached (the final resolution once ``lod`` is 0).
"""

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from kerasgan import precision
from kerasgan.core import tf_step
from kerasgan.gan import GAN
from kerasgan.layers import EqualizedConv2D, EqualizedDense, MinibatchStdDev, PixelNorm
from kerasgan.models import register
from kerasgan.spec import FamilySpec, Option, LATENT_TO_IMAGE
from kerasgan.models.dcgan import validate_image_shape
from kerasgan.models.wgan_gp import GradientPenaltyMixin
from kerasgan.utils import check_int

__all__ = ["ProGAN", "progressive_lod", "process_reals", "build_generator",
           "build_discriminator", "channels_at", "validate_progan_shape"]


# ---------------------------------------------------------------- the schedule
def progressive_lod(images_seen, max_lod, stable_images, fade_images):
    """The level of detail after ``images_seen`` training images.

    The official ``TrainingSchedule`` (``lod_training_kimg`` =
    ``stable_images``, ``lod_transition_kimg`` = ``fade_images``): training
    starts at ``lod = max_lod`` (the initial resolution) and each phase of
    ``stable_images + fade_images`` images first stabilises the current
    resolution, then fades the next one in, ``lod`` falling linearly by 1;
    ``lod`` stays 0 once the final resolution is reached (after
    ``max_lod`` phases)::

        phase = images_seen // (stable + fade)
        lod = max_lod - phase - max(images_seen - phase * (stable + fade) - stable, 0) / fade

    With ``stable_images = fade_images = 0`` there is no growing: ``lod`` is 0.

    Args:
        images_seen: images shown so far (an int, or an integer tensor).
        max_lod: ``log2(resolution / initial_resolution)``.
        stable_images: images per stabilisation phase.
        fade_images: images per fade-in phase (0: switch resolutions at once).

    Returns:
        A float32 scalar (tensor) in ``[0, max_lod]``.
    """
    phase_images = int(stable_images) + int(fade_images)
    if phase_images == 0 or max_lod == 0:
        return ops.convert_to_tensor(0.0, "float32")
    images = ops.cast(images_seen, "int64")
    phase = ops.floor_divide(images, phase_images)
    within = ops.cast(images - phase * phase_images, "float32")
    lod = float(max_lod) - ops.cast(phase, "float32")
    if fade_images:
        lod = lod - ops.maximum(within - float(stable_images), 0.0) / float(fade_images)
    return ops.maximum(lod, 0.0)


def _nearest_upsample(x, factor):
    if factor == 1:
        return x
    return ops.repeat(ops.repeat(x, factor, axis=1), factor, axis=2)


def _average_pool2(x):
    return ops.average_pool(x, 2, 2, padding="valid", data_format="channels_last")


def process_reals(images, lod, max_lod):
    """Real images at level of detail ``lod``, as the generator makes them.

    Level ``k`` is the image average-pooled ``2^k`` times (to
    ``resolution / 2^k``) and nearest-upsampled back; the result is level
    ``floor(lod)`` blended with level ``floor(lod) + 1`` by ``frac(lod)``, at
    full size (the official ``process_reals``, which reads the lower
    resolutions from a multi-resolution dataset).

    Args:
        images: NHWC images, the final resolution.
        lod: level of detail (a float or a scalar tensor).
        max_lod: the largest level of detail of the model.

    Returns:
        The processed images, the shape and dtype of ``images``.
    """
    out = images
    level = images
    lod = ops.cast(lod, images.dtype)
    for k in range(1, max_lod + 1):
        level = _average_pool2(level)
        t = ops.clip(lod - float(k - 1), 0.0, 1.0)
        out = out + (_nearest_upsample(level, 2**k) - out) * t
    return out


# ------------------------------------------------------------- graph layers
@keras.saving.register_keras_serializable(package="kerasgan")
class LevelOfDetail(keras.layers.Layer):
    """Holds a network's level of detail ``lod`` (a non-trainable float32
    scalar variable) and outputs it broadcast to ``(batch, 1, 1, 1)``.

    The variable is written by :meth:`ProGAN.set_lod` (from the train step,
    ``aggregation="only_first_replica"`` makes that legal in a
    ``MirroredStrategy`` replica context) and saved with the weights, so an
    exported generator needs no extra input.

    Args:
        initial_lod: the variable's initial value.
        **kwargs: base layer arguments.
    """

    def __init__(self, initial_lod=0.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.initial_lod = float(initial_lod)

    def build(self, input_shape):
        self.lod = self.add_weight(
            name="lod", shape=(), initializer=keras.initializers.Constant(self.initial_lod),
            dtype="float32", trainable=False, autocast=False, aggregation="only_first_replica",
        )

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        return ops.ones((batch, 1, 1, 1), "float32") * ops.convert_to_tensor(self.lod)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1, 1, 1)

    def get_config(self):
        config = super().get_config()
        config.update(initial_lod=self.initial_lod)
        return config


@keras.saving.register_keras_serializable(package="kerasgan")
class FadeIn(keras.layers.Layer):
    """``lerp_clip(a, b, lod - level)``: ``a + (b - a) * clip(lod - level, 0, 1)``.

    Called on ``[a, b, lod]`` with ``a`` the path of this level (the newer,
    higher-resolution one), ``b`` the path of the level below and ``lod``
    from :class:`LevelOfDetail`. The blend weight is computed in float32.

    Args:
        level: this fade's level of detail (0 for the final resolution).
        **kwargs: base layer arguments.
    """

    def __init__(self, level, **kwargs):
        super().__init__(**kwargs)
        self.level = int(level)

    def call(self, inputs):
        a, b, lod = inputs
        t = ops.clip(ops.cast(lod, "float32") - float(self.level), 0.0, 1.0)
        t = ops.cast(t, self.compute_dtype)
        a = ops.cast(a, self.compute_dtype)
        return a + (ops.cast(b, self.compute_dtype) - a) * t

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update(level=self.level)
        return config


@keras.saving.register_keras_serializable(package="kerasgan")
class ClipAtInference(keras.layers.Layer):
    """The identity in training, ``clip(x, -1, 1)`` in inference.

    ProGAN's generator output is linear: the discriminator is trained on the
    unclipped images, and the official code clips only when it converts
    images for display (``convert_images_to_uint8``). Here the clip is part of
    the generator graph in inference mode (``training=False``: ``generate``,
    ``predict``, every export), so the images users get are in [-1, 1].
    """

    def call(self, inputs, training=None):
        if training:
            return inputs
        return ops.clip(inputs, -1.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape


# ------------------------------------------------------------------ networks
def validate_progan_shape(image_shape):
    """``(R, R, C)`` with ``R`` a power of two ≥ 8; returns ``(shape, log2(R))``.

    Raises:
        ValueError: non-square, not a power of two, or smaller than 8x8.
    """
    shape = validate_image_shape(image_shape)
    height, width, _ = shape
    if height != width:
        raise ValueError(
            f"ProGAN needs square images, got {height}x{width}: resize the data to a square "
            "power-of-two size (--resize 32)"
        )
    if height < 8 or height & (height - 1):
        raise ValueError(
            f"ProGAN needs a power-of-two image size of at least 8 (8, 16, 32, ...), got "
            f"{height}x{width}: resize the data (--resize 32)"
        )
    return shape, int(round(math.log2(height)))


def channels_at(resolution, width, channel_base):
    """Channels at ``resolution``: ``clip(channel_base // resolution, 1, width)``.

    The official ``nf(stage) = min(fmap_base / 2^stage, fmap_max)`` for the
    blocks at resolution ``2^(stage + 1)``, written as StyleGAN2-ADA writes it
    (``channel_base = 2 * fmap_base``, ``channel_max = width``), with
    StyleGAN2's lower bound ``fmap_min = 1``.
    """
    return int(np.clip(int(channel_base) // int(resolution), 1, int(width)))


def _conv(x, filters, kernel, name, pixel_norm):
    x = EqualizedConv2D(filters, kernel, name=name)(x)
    x = layers.LeakyReLU(0.2, name=f"{name}_lrelu")(x)
    return PixelNorm(name=f"{name}_pn")(x) if pixel_norm else x


def build_generator(image_shape, latent_dim=512, width=512, channel_base=16384, initial_lod=0.0,
                    name="generator"):
    """ProGAN generator (``G_paper``, linear structure), NHWC.

    ``z`` normalised by pixel norm (``normalize_latents``); a dense layer
    (gain ``sqrt(2)/4``) to 4x4x``nf(1)``, LeakyReLU(0.2), pixel norm; a 3x3
    convolution; then per doubling: nearest 2x upsampling and two 3x3
    convolutions of ``nf(r - 1)`` channels (``r = log2`` of the resolution),
    each followed by LeakyReLU(0.2) and pixel norm. Every resolution has a
    1x1 ``toRGB`` (gain 1, linear); the images of consecutive resolutions are
    blended by :class:`FadeIn` at the level of detail of
    :class:`LevelOfDetail`. The output is linear in training and clipped to
    [-1, 1] in inference (:class:`ClipAtInference`). Every convolution and
    dense layer has an equalised learning rate.

    Returns:
        A ``keras.Model`` from ``z`` ``(latent_dim,)`` to ``images``
        ``(R, R, C)`` (float32).
    """
    (resolution, _, channels), log2_res = validate_progan_shape(image_shape)
    def nf(stage):  # channels of the blocks at resolution 2^(stage + 1)
        return channels_at(2 ** (stage + 1), width, channel_base)

    z = keras.Input((latent_dim,), name="z")
    lod = LevelOfDetail(initial_lod, name="lod")(z)
    x = PixelNorm(name="normalize_latents")(z)
    x = EqualizedDense(nf(1) * 16, gain=math.sqrt(2) / 4, name="4x4_dense")(x)
    x = layers.Reshape((4, 4, nf(1)), name="4x4_reshape")(x)
    x = layers.LeakyReLU(0.2, name="4x4_dense_lrelu")(x)
    x = PixelNorm(name="4x4_dense_pn")(x)
    x = _conv(x, nf(1), 3, "4x4_conv", pixel_norm=True)
    img = EqualizedConv2D(channels, 1, gain=1.0, name="4x4_to_rgb")(x)
    for r in range(3, log2_res + 1):
        size = 2**r
        x = layers.UpSampling2D(2, name=f"{size}x{size}_up")(x)
        x = _conv(x, nf(r - 1), 3, f"{size}x{size}_conv0", pixel_norm=True)
        x = _conv(x, nf(r - 1), 3, f"{size}x{size}_conv1", pixel_norm=True)
        rgb = EqualizedConv2D(channels, 1, gain=1.0, name=f"{size}x{size}_to_rgb")(x)
        img = layers.UpSampling2D(2, name=f"{size}x{size}_rgb_up")(img)
        img = FadeIn(log2_res - r, name=f"{size}x{size}_fade")([rgb, img, lod])
    images = ClipAtInference(dtype="float32", name="images")(img)
    return keras.Model(z, images, name=name)


def build_discriminator(image_shape, width=512, channel_base=16384, mbstd_group_size=4,
                        initial_lod=0.0, name="discriminator"):
    """ProGAN discriminator (``D_paper``, linear structure), NHWC.

    ``fromRGB`` (1x1) at the final resolution, then per halving: two 3x3
    convolutions (``nf(r - 1)``, ``nf(r - 2)`` channels), LeakyReLU(0.2), 2x2
    average pooling, blended by :class:`FadeIn` with ``fromRGB`` of the
    average-pooled input; at 4x4: minibatch standard deviation
    (:class:`kerasgan.layers.MinibatchStdDev`, when ``mbstd_group_size >= 2``),
    a 3x3 convolution, a dense layer of ``nf(0)`` and a linear dense logit
    (gain 1). No normalisation: the WGAN-GP penalty needs per-example
    gradients. Equalised learning rate everywhere.

    Returns:
        A ``keras.Model`` from ``images`` ``(R, R, C)`` to ``logits`` ``(1,)``.
    """
    (resolution, _, channels), log2_res = validate_progan_shape(image_shape)
    def nf(stage):  # channels of the blocks at resolution 2^(stage + 1)
        return channels_at(2 ** (stage + 1), width, channel_base)

    images = keras.Input((resolution, resolution, channels), name="images")
    lod = LevelOfDetail(initial_lod, name="lod")(images)
    img = images
    x = _conv(img, nf(log2_res - 1), 1, f"{resolution}x{resolution}_from_rgb", pixel_norm=False)
    for r in range(log2_res, 2, -1):
        size = 2**r
        x = _conv(x, nf(r - 1), 3, f"{size}x{size}_conv0", pixel_norm=False)
        x = _conv(x, nf(r - 2), 3, f"{size}x{size}_conv1", pixel_norm=False)
        x = layers.AveragePooling2D(2, name=f"{size}x{size}_down")(x)
        img = layers.AveragePooling2D(2, name=f"{size}x{size}_rgb_down")(img)
        half = size // 2
        y = _conv(img, nf(r - 2), 1, f"{half}x{half}_from_rgb", pixel_norm=False)
        x = FadeIn(log2_res - r, name=f"{size}x{size}_fade")([x, y, lod])
    if mbstd_group_size >= 2:
        x = MinibatchStdDev(mbstd_group_size, name="4x4_mbstd")(x)
    x = _conv(x, nf(1), 3, "4x4_conv", pixel_norm=False)
    x = layers.Flatten(name="4x4_flatten")(x)
    x = EqualizedDense(nf(0), name="4x4_dense0")(x)
    x = layers.LeakyReLU(0.2, name="4x4_dense0_lrelu")(x)
    logits = EqualizedDense(1, gain=1.0, dtype="float32", name="logits")(x)
    return keras.Model(images, logits, name=name)


# ------------------------------------------------------------------- metric
@keras.saving.register_keras_serializable(package="kerasgan")
class LastValue(keras.metrics.Metric):
    """The last value given to ``update_state`` (a scalar), not a running mean:
    the level of detail at the end of the epoch in the history. Under a
    strategy every replica stores the same value and reading averages them."""

    def __init__(self, name="last_value", **kwargs):
        super().__init__(name=name, **kwargs)
        self.value = self.add_variable(shape=(), initializer="zeros", dtype="float32",
                                       aggregation="mean", name="value")

    def update_state(self, value):
        self.value.assign(ops.cast(ops.reshape(value, ()), "float32"))

    def result(self):
        return ops.convert_to_tensor(self.value)


# ---------------------------------------------------------------------- GAN
@register("progan")
@keras.saving.register_keras_serializable(package="kerasgan")
class ProGAN(GradientPenaltyMixin, GAN):
    """Progressive GAN: progressive growing, equalised learning rate, pixel
    norm, minibatch standard deviation, WGAN-GP loss with a drift term.

    The networks are built once for the final resolution with a level of
    detail ``lod`` inside (see the module docstring); the train step sets
    ``lod`` from :func:`progressive_lod` of the images shown so far
    (``g_optimizer.iterations * global batch``, so keep the batch size
    constant), processes the real batch to that level of detail, and logs
    ``lod`` (its value after the last step in the epoch history). Training
    starts at ``initial_resolution`` and reaches the final resolution after
    ``log2(resolution / initial_resolution) * (stable_images + fade_images)``
    images; the exported generator is then the final-resolution one.

    Loss (official ``D_wgangp_acgan`` / ``G_wgan_acgan``): Wasserstein, the
    WGAN-GP penalty ``gp_weight * (||grad D(x_hat)|| - 1)^2`` and the drift
    ``drift_weight * D(x)^2`` on real scores; logged as ``gp`` and ``drift``
    (the unweighted per-example means). One discriminator step per generator
    step and Adam(1e-3, beta_1=0, beta_2=0.99, epsilon=1e-8) for both, as in
    the paper; the paper also averages the generator (``ema_decay=0.999``).

    Not reproduced: the paper's per-resolution batch sizes and learning rates
    (one batch size and learning rate for the whole run here), its
    ``fused_scale`` convolutions at high resolutions (a plain upsampling or
    pooling and a convolution, the same function), and its "recursive"
    structure, which skips the layers of resolutions not yet in use; here
    every step runs the whole final-resolution networks (the official
    "linear" structure), so early stages cost as much as late ones.

    Args:
        image_shape: ``(R, R, C)``, ``R`` a power of two ≥ 8.
        latent_dim: size of ``z`` (512 in the paper).
        width: the largest number of channels (the paper's ``fmap_max``,
            512).
        channel_base: the blocks at resolution ``r`` have
            ``min(channel_base // r, width)`` channels
            (:func:`channels_at`; the paper's ``fmap_base = 8192`` is
            ``channel_base = 16384``: every block up to 32x32 has ``width``
            channels, and the widths halve from 64x64 on).
        initial_resolution: the resolution training starts at (4).
        stable_images: images per stabilisation phase (600k in the paper).
        fade_images: images per fade-in phase (600k in the paper).
        mbstd_group_size: minibatch standard deviation group (4; < 2 turns
            the layer off).
        gp_weight: WGAN-GP penalty weight (10).
        drift_weight: drift weight (0.001).
        **kwargs: :class:`kerasgan.GAN` arguments (``ema_decay``, ``seed``,
            ``d_steps``, ``dtype``, ...).

    Raises:
        ValueError: an image shape that is not square or not a power of two
            ≥ 8, or a bad schedule or width.

    References:
        Karras, Aila, Laine and Lehtinen, "Progressive Growing of GANs for
        Improved Quality, Stability, and Variation", ICLR 2018
        (arXiv:1710.10196). Gulrajani et al., "Improved Training of
        Wasserstein GANs", NeurIPS 2017.

    Example:
        >>> gan = kerasgan.models.ProGAN(image_shape=(32, 32, 1), latent_dim=128,
        ...                              width=64, channel_base=512,
        ...                              stable_images=60_000, fade_images=60_000)
        >>> gan.compile()
        >>> gan.fit(kerasgan.data.load("mnist-10k", batch_size=64, resize=(32, 32)), epochs=30)
        >>> gan.lod  # 0.0 once the schedule reached 32x32
    """

    spec = FamilySpec(
        kind=LATENT_TO_IMAGE, batch="images",
        excluded_common_options=("r1_gamma",),  # its gradient penalty replaces R1
        summary="Progressive growing GAN, grown from fit (Karras et al. 2018)",
        options=(Option("latent_dim", help="size of z", minimum=1),
                 Option("width", help="largest number of channels", minimum=1),
                 Option("channel_base", help="channels at resolution r: "
                        "min(channel_base // r, width)", minimum=1),
                 Option("stable_images", help="training images per stabilisation phase",
                        minimum=1, metavar="N"),
                 Option("fade_images", help="training images per fade-in phase", minimum=1,
                        metavar="N"),
                 Option("gp_weight", help="gradient-penalty weight", minimum=0.0)),
        recommended={"epochs": 19, "batch_size": 64, "resize": "32"},
        references=("https://arxiv.org/abs/1710.10196",))

    default_loss = "wasserstein"
    #: 8x8 images, lod moves 1 -> 0.75 -> 0.25 -> 0 in steps of 16 images
    tiny_config = {"image_shape": (8, 8, 1), "latent_dim": 8, "width": 8, "channel_base": 32,
                   "stable_images": 8, "fade_images": 32}

    def __init__(self, image_shape=(32, 32, 3), latent_dim=512, width=512, channel_base=16384,
                 initial_resolution=4, stable_images=600_000, fade_images=600_000,
                 mbstd_group_size=4, gp_weight=10.0, drift_weight=0.001, **kwargs):
        shape, log2_res = validate_progan_shape(image_shape)
        self.image_shape = shape
        self.width = check_int(width, "width")
        self.channel_base = check_int(channel_base, "channel_base")
        initial_resolution = int(initial_resolution)
        if initial_resolution < 4 or initial_resolution & (initial_resolution - 1) \
                or initial_resolution > shape[0]:
            raise ValueError(
                f"initial_resolution must be a power of two from 4 to the image size "
                f"{shape[0]}, got {initial_resolution}"
            )
        self.initial_resolution = initial_resolution
        self.max_lod = log2_res - int(round(math.log2(initial_resolution)))
        self.stable_images, self.fade_images = (
            check_int(value, key, 0, expected="an integer number of images ≥ 0")
            for key, value in (("stable_images", stable_images), ("fade_images", fade_images)))
        self.mbstd_group_size = check_int(mbstd_group_size, "mbstd_group_size", 0)
        for key, value in (("gp_weight", gp_weight), ("drift_weight", drift_weight)):
            if not float(value) >= 0.0:
                raise ValueError(f"{key} must be ≥ 0, got {value!r}")
        self.gp_weight, self.drift_weight = float(gp_weight), float(drift_weight)
        initial_lod = float(progressive_lod(0, self.max_lod, self.stable_images, self.fade_images))
        with precision.dtype_scope(kwargs.get("dtype")):
            generator = build_generator(shape, latent_dim, self.width, self.channel_base,
                                        initial_lod)
            discriminator = build_discriminator(shape, self.width, self.channel_base,
                                                self.mbstd_group_size, initial_lod)
        super().__init__(generator, discriminator, latent_dim=latent_dim, **kwargs)
        self.lod_tracker = LastValue(name="lod")

    # ------------------------------------------------------------ the lod
    def _lod_layers(self):
        models = [self.generator, self.discriminator]
        if self.ema_generator is not None:
            models.append(self.ema_generator)
        return [m.get_layer("lod") for m in models]

    @property
    def lod(self):
        """The generator's current level of detail (0: the final resolution)."""
        return float(self.generator.get_layer("lod").lod.numpy())

    @property
    def resolution(self):
        """The highest resolution in use: ``R / 2^floor(lod)`` (during a
        fade, the one fading in)."""
        return self.image_shape[0] // 2 ** int(math.floor(self.lod + 1e-6))

    def set_lod(self, lod):
        """Assigns ``lod`` to the generator, its EMA copy and the discriminator
        (eagerly, or inside the train step)."""
        lod = ops.cast(lod, "float32")
        for layer in self._lod_layers():
            layer.lod.assign(lod)

    def lod_at(self, images_seen):
        """The schedule's level of detail after ``images_seen`` images (float)."""
        return float(progressive_lod(images_seen, self.max_lod, self.stable_images,
                                     self.fade_images))

    def _unpack(self, data):
        """The step's real batch, at the step's level of detail.

        The schedule is evaluated here, where the train step starts: from the
        generator steps run and the global batch, ``lod`` is computed,
        assigned to both networks (before any forward pass of the step) and
        logged, and the real images are processed to it.
        """
        images, labels = super()._unpack(data)
        _, global_batch = tf_step.batch_layout(tf_step.batch_size(images))
        seen = tf.cast(self.g_optimizer.iterations, tf.int64) * tf.cast(global_batch, tf.int64)
        lod = progressive_lod(seen, self.max_lod, self.stable_images, self.fade_images)
        self.set_lod(lod)
        self.lod_tracker.update_state(lod)
        return process_reals(images, lod, self.max_lod), labels

    @property
    def metrics(self):
        return [*super().metrics, self.lod_tracker]

    # ----------------------------------------------------------- the loss
    def default_optimizers(self):
        return (
            keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.99, epsilon=1e-8),
            keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.99, epsilon=1e-8),
        )

    def penalty_names(self):
        names = super().penalty_names()  # "gp" (GradientPenaltyMixin) first
        return [*names[:1], "drift", *names[1:]]

    def discriminator_aux_loss(self, real_out, fake_out, real_labels, generator_inputs):
        """The drift term ``drift_weight * D(x)^2`` on real scores (paper
        section A.1: keeps the critic's output near 0)."""
        real = self.adversarial_logits(real_out)
        drift = ops.mean(ops.reshape(ops.square(real), (ops.shape(real)[0], -1)), axis=1)
        return self.drift_weight * drift, {"drift": drift}

    # ---------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update(image_shape=list(self.image_shape), width=self.width,
                      channel_base=self.channel_base, initial_resolution=self.initial_resolution,
                      stable_images=self.stable_images, fade_images=self.fade_images,
                      mbstd_group_size=self.mbstd_group_size, gp_weight=self.gp_weight,
                      drift_weight=self.drift_weight)
        return config
