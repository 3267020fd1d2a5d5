"""StyleGAN2 (Karras et al. 2020): mapping network, modulated convolutions,
per-layer noise, skip generator, residual discriminator, lazy R1, path-length
regularisation, style mixing, truncation."""

import math

import keras
import tensorflow as tf
from keras import layers, ops

from kerasgan import penalties, precision
from kerasgan.core import tf_step
from kerasgan.gan import GAN
from kerasgan.layers.equalized import EqualizedConv2D, EqualizedDense, MinibatchStdDev, PixelNorm
from kerasgan.layers.modulated import (BilinearUpsample2x, ConstantInput, ModulatedConv2D,
                                       NoiseInjection, leaky_relu_gain)
from kerasgan.models import register
from kerasgan.spec import FamilySpec, Option, LATENT_TO_IMAGE
from kerasgan.utils import check_image_shape, check_int, check_number

#: the name of the truncation input of the exported generator
TRUNCATION_INPUT = "truncation_psi"


# ------------------------------------------------------------------ shapes
def validate_image_shape(image_shape):
    """``(R, R, C)`` with ``R`` a power of two ≥ 4 and ``C`` 1 or 3.

    Raises:
        ValueError: another shape, naming the fix (resize the data).
    """
    shape = check_image_shape(image_shape, "image_shape", channels=(1, 3))
    h, w, c = shape
    if h != w or h < 4 or h & (h - 1):
        size = 2 ** max(2, round(math.log2(max(h, w, 1))))
        raise ValueError(
            f"StyleGAN2 makes square images whose side is a power of two ≥ 4, got {h}x{w}: "
            f"resize the data (kerasgan train --resize {size})"
        )
    return shape


def num_ws(resolution):
    """Latents the synthesis network takes: one per modulated convolution, plus
    one for the last toRGB (each other toRGB shares the next block's first one),
    ``2 * log2(resolution) - 2`` (18 at 1024x1024, 8 at 32x32)."""
    return 2 * int(math.log2(resolution)) - 2


def noise_resolutions(resolution):
    """The size of each noise input, one per modulated 3x3 convolution: one at
    4x4, two at each higher resolution."""
    sizes = [4]
    res = 8
    while res <= resolution:
        sizes += [res, res]
        res *= 2
    return sizes


def _channels(res, width, channel_base):
    """Channels at resolution ``res``: ``min(channel_base // res, width)``
    (StyleGAN2's rule), or ``width`` everywhere without ``channel_base``."""
    if channel_base:
        return max(1, min(int(channel_base) // res, int(width)))
    return int(width)


# ------------------------------------------------------------------ layers
@keras.saving.register_keras_serializable(package="kerasgan")
class LatentAt(keras.layers.Layer):
    """``ws[:, index]``: the latent of one synthesis layer, from
    ``(batch, num_ws, w_dim)``."""

    def __init__(self, index, **kwargs):
        super().__init__(**kwargs)
        self.index = int(index)

    def call(self, ws):
        return ops.take(ws, self.index, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update(index=self.index)
        return config


@keras.saving.register_keras_serializable(package="kerasgan")
class Truncation(keras.layers.Layer):
    """The truncation trick in W, and the broadcast of ``w`` to every layer.

    Called on ``[w, psi]`` (``psi`` one value per example, shape ``(batch,)``):
    ``ws[:, i] = w_avg + psi * (w - w_avg)`` for each of the ``num_ws`` layers.
    ``psi = 1`` leaves ``w`` as it is; ``psi = 0`` gives every example the
    average latent, hence the "average image". ``w_avg`` is a non-trainable
    float32 variable the train step keeps as a moving average of the mapping
    network's outputs (``w_avg_beta``, StyleGAN2-ADA's ``w_avg``).

    Args:
        num_ws: latents of the synthesis network.
        **kwargs: base layer arguments.

    References:
        Karras, Laine and Aila, "A Style-Based Generator Architecture for
        GANs", CVPR 2019, section 3.1 (truncation in W); Brock et al., "Large
        Scale GAN Training", ICLR 2019.
    """

    def __init__(self, num_ws, **kwargs):
        super().__init__(**kwargs)
        self.num_ws = int(num_ws)

    def build(self, input_shape):
        w_shape = input_shape[0]
        # computed from the (identical) mirrored values on every replica and
        # written by the train step with one global value: "only_first_replica"
        # makes that write legal inside a MirroredStrategy replica context
        self.w_avg = self.add_weight(name="w_avg", shape=(int(w_shape[-1]),),
                                     initializer="zeros", trainable=False, autocast=False,
                                     aggregation="only_first_replica")

    def call(self, inputs):
        w, psi = inputs
        w = ops.cast(w, "float32")
        avg = ops.convert_to_tensor(self.w_avg)[None, :]
        psi = ops.reshape(ops.cast(psi, "float32"), (-1, 1))
        w = avg + psi * (w - avg)
        ws = ops.repeat(w[:, None, :], self.num_ws, axis=1)
        return ops.cast(ws, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        w_shape = input_shape[0]
        return (w_shape[0], self.num_ws, w_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(num_ws=self.num_ws)
        return config


@keras.saving.register_keras_serializable(package="kerasgan")
class ClipImages(keras.layers.Layer):
    """Clips images to [-1, 1]. The synthesis network's output is linear (as
    in the paper); the exported generator clips it, so every kerasgan
    generator gives images in [-1, 1]. Training uses the unclipped output."""

    def call(self, x):
        return ops.clip(x, -1.0, 1.0)


# ---------------------------------------------------------------- networks
def build_mapping(latent_dim, w_dim, mapping_layers, lr_multiplier=0.01, name="mapping"):
    """The mapping network ``f: z -> w``: normalise ``z`` to unit second
    moment (pixel norm), then ``mapping_layers`` fully connected layers with
    the gained leaky ReLU and a learning-rate multiplier of 0.01 (Karras et
    al. 2019, section 2 and appendix C).

    Returns:
        A ``keras.Model`` from ``z (latent_dim,)`` to ``w (w_dim,)``.
    """
    z = keras.Input((latent_dim,), name="z")
    x = PixelNorm(name="normalize_z")(z)
    for i in range(mapping_layers):
        x = EqualizedDense(w_dim, lr_multiplier=lr_multiplier, gain=1.0,
                           activation=leaky_relu_gain, name=f"fc{i}")(x)
    return keras.Model(z, x, name=name)


def build_synthesis(image_shape, w_dim, width=512, channel_base=None, name="synthesis"):
    """The synthesis network (StyleGAN2's "skip" generator, configs e/f).

    A learned 4x4 constant; at 4x4 one modulated 3x3 convolution, at each
    higher resolution a bilinear 2x upsampling and two; each convolution is
    followed by noise (its own input map, with a learned strength), the bias
    and the gained leaky ReLU. Every resolution has a toRGB (modulated 1x1,
    no demodulation) whose output is added to the upsampled image so far
    (figure 7b of the paper, "skip").

    Returns:
        A ``keras.Model`` from ``[ws (num_ws, w_dim), noise_0, noise_1, ...]``
        (noise ``i`` is ``(r_i, r_i, 1)``, see :func:`noise_resolutions`) to
        linear (unclipped) float32 images.
    """
    resolution, _, out_channels = image_shape
    count = num_ws(resolution)
    ws = keras.Input((count, w_dim), name="ws")
    noises = [keras.Input((r, r, 1), name=f"noise_{i}")
              for i, r in enumerate(noise_resolutions(resolution))]
    w_cache = {}

    def w_at(i):
        if i not in w_cache:
            w_cache[i] = LatentAt(i, name=f"w_{i}")(ws)
        return w_cache[i]

    def styled_conv(x, filters, w_index, noise_index, prefix):
        x = ModulatedConv2D(filters, 3, name=f"{prefix}_conv")([x, w_at(w_index)])
        x = NoiseInjection(name=f"{prefix}_noise")([x, noises[noise_index]])
        return layers.Activation(leaky_relu_gain, name=f"{prefix}_act")(x)

    x = ConstantInput(_channels(4, width, channel_base), name="const")(ws)
    x = styled_conv(x, _channels(4, width, channel_base), 0, 0, "b4_conv1")
    image = ModulatedConv2D(out_channels, 1, demodulate=False, name="b4_torgb")([x, w_at(1)])
    w_index, noise_index, res = 1, 1, 8
    while res <= resolution:
        filters = _channels(res, width, channel_base)
        x = BilinearUpsample2x(name=f"b{res}_up")(x)
        x = styled_conv(x, filters, w_index, noise_index, f"b{res}_conv0")
        x = styled_conv(x, filters, w_index + 1, noise_index + 1, f"b{res}_conv1")
        image = BilinearUpsample2x(name=f"b{res}_image_up")(image)
        rgb = ModulatedConv2D(out_channels, 1, demodulate=False,
                              name=f"b{res}_torgb")([x, w_at(w_index + 2)])
        image = layers.Add(name=f"b{res}_skip")([image, rgb])
        w_index, noise_index, res = w_index + 2, noise_index + 2, res * 2
    images = layers.Activation("linear", dtype="float32", name="images")(image)
    return keras.Model([ws, *noises], images, name=name)


def build_generator(mapping, synthesis, name="generator"):
    """The exportable generator: ``z``, every noise map and ``truncation_psi``
    in; ``mapping`` → :class:`Truncation` (holding ``w_avg``) → ``synthesis``
    → :class:`ClipImages` out.

    Returns:
        A ``keras.Model`` with inputs ``[z, noise_0, ..., truncation_psi]``.
    """
    latent_dim = int(mapping.inputs[0].shape[-1])
    count = int(synthesis.inputs[0].shape[1])
    z = keras.Input((latent_dim,), name="z")
    noises = [keras.Input(tuple(t.shape[1:]), name=f"noise_{i}")
              for i, t in enumerate(synthesis.inputs[1:])]
    psi = keras.Input((), name=TRUNCATION_INPUT)
    ws = Truncation(count, name="truncation")([mapping(z), psi])
    images = ClipImages(dtype="float32", name="images")(synthesis([ws, *noises]))
    return keras.Model([z, *noises, psi], images, name=name)


def build_discriminator(image_shape, width=512, channel_base=None, mbstd_group_size=4,
                        mbstd_features=1, name="discriminator"):
    """StyleGAN2's residual discriminator (figure 7c of the paper, configs e/f).

    fromRGB (1x1) at the image resolution; one residual block per halving
    down to 4x4: ``conv3x3 → 2x2 average pool → conv3x3``, plus a shortcut
    ``2x2 average pool → conv1x1`` (no bias), both branches scaled by
    ``sqrt(1/2)``; then minibatch standard deviation (groups of
    ``mbstd_group_size``), a 3x3 convolution, a fully connected layer and the
    logit. Equalised learning rate and the gained leaky ReLU throughout.

    Downsampling is a 2x2 average (the official code blurs with a
    ``[1, 3, 3, 1]`` filter and uses a stride-2 convolution).

    Returns:
        A ``keras.Model`` from images to float32 logits ``(batch, 1)``.
    """
    resolution = image_shape[0]
    images = keras.Input(image_shape, name="images")
    x = EqualizedConv2D(_channels(resolution, width, channel_base), 1, gain=1.0,
                        activation=leaky_relu_gain, name=f"b{resolution}_fromrgb")(images)
    half = math.sqrt(0.5)
    res = resolution
    while res > 4:
        filters, out = _channels(res, width, channel_base), _channels(res // 2, width, channel_base)
        skip = layers.AveragePooling2D(2, name=f"b{res}_skip_down")(x)
        skip = EqualizedConv2D(out, 1, use_bias=False, gain=half, name=f"b{res}_skip")(skip)
        h = EqualizedConv2D(filters, 3, gain=1.0, activation=leaky_relu_gain,
                            name=f"b{res}_conv0")(x)
        h = layers.AveragePooling2D(2, name=f"b{res}_down")(h)
        h = EqualizedConv2D(out, 3, gain=1.0, activation=leaky_relu_gain,
                            name=f"b{res}_conv1")(h)
        h = layers.Rescaling(half, name=f"b{res}_scale")(h)
        x = layers.Add(name=f"b{res}_add")([skip, h])
        res //= 2
    filters = _channels(4, width, channel_base)
    x = MinibatchStdDev(mbstd_group_size, mbstd_features, name="b4_mbstd")(x)
    x = EqualizedConv2D(filters, 3, gain=1.0, activation=leaky_relu_gain, name="b4_conv")(x)
    x = layers.Flatten(name="b4_flatten")(x)
    x = EqualizedDense(filters, gain=1.0, activation=leaky_relu_gain, name="b4_fc")(x)
    logits = EqualizedDense(1, gain=1.0, dtype="float32", name="logits")(x)
    return keras.Model(images, logits, name=name)


# --------------------------------------------------------------- the family
def default_r1_gamma(image_shape, batch_size=32):
    """StyleGAN2-ADA's heuristic R1 weight, ``0.0002 * H * W / batch_size``
    (its ``auto`` configuration), for a reference batch of 32: 0.0064 at
    32x32, 6.6 at 1024x1024 (the papers use 0.01 for CIFAR-10, 10 for FFHQ)."""
    return 0.0002 * image_shape[0] * image_shape[1] / batch_size


@register("stylegan2")
@keras.saving.register_keras_serializable(package="kerasgan")
class StyleGAN2(GAN):
    """StyleGAN2: style-based generator with weight demodulation.

    **Generator** (``gan.generator``, the exportable model): inputs ``z``,
    one noise map per modulated convolution (``noise_0`` ... , ``(r, r, 1)``,
    standard normal) and ``truncation_psi`` (one per example; 1 = no
    truncation). Inside: the mapping network ``gan.mapping`` (``z`` → ``w``),
    the truncation ``w_avg + psi * (w - w_avg)`` broadcast to every layer, the
    synthesis network ``gan.synthesis`` (``[ws, noise...]`` → images; skip
    architecture, modulated/demodulated 3x3 convolutions,
    :mod:`kerasgan.layers.modulated`), then a clip to [-1, 1].

    **Discriminator**: residual, minibatch standard deviation, equalised
    learning rate.

    **Training** (its own ``train_step``, with every guarantee of
    :class:`kerasgan.GAN`'s: global-batch draws sliced per replica, losses
    summed over the global batch, loss scaling, XLA):

    - non-saturating logistic loss;
    - style mixing: with probability ``style_mixing`` per example, a second
      ``z`` takes over from a crossover layer drawn uniformly in
      ``[1, num_ws)``;
    - lazy R1 on reals, every ``r1_interval`` discriminator steps, with weight
      ``r1_gamma / 2 * r1_interval``;
    - path-length regularisation every ``pl_interval`` generator steps on a
      batch ``pl_batch_shrink`` times smaller, weight ``pl_weight *
      pl_interval``, target ``pl_mean`` (a moving average of the global
      batch's path lengths with ``pl_decay``, updated after the penalty: the
      official code penalises against the mean already updated with this
      batch, which differs by ``pl_decay * (batch mean - pl_mean)``; using the
      previous value keeps the cross-replica mean out of the conditional);
    - ``w_avg`` tracked with ``w_avg_beta`` (global batch mean);
    - generator EMA (``ema_decay``, 0.999), used by ``generate`` and export.

    A regularisation step is folded into the main step of its network (its
    gradient, computed inside ``tf.cond`` only on due steps, is added to the
    main loss's; one optimizer update): every step is one update per network,
    so ``iterations`` counts steps. The official
    code instead runs a separate optimizer step for the regulariser and
    corrects Adam's learning rate and betas by ``interval / (interval + 1)`` for
    those extra steps; with no extra steps the correction does not apply and
    the defaults are the paper's Adam(0.0025, β = (0, 0.99), ε = 1e-8).

    Args:
        image_shape: ``(R, R, C)``, ``R`` a power of two ≥ 4.
        latent_dim: size of ``z`` and of ``w`` (512 in the paper).
        mapping_layers: fully connected layers of the mapping network (8 in
            the paper; 2 in StyleGAN2-ADA's CIFAR-10 configuration).
        g_width: the largest generator width (512); with ``channel_base``
            the width at resolution ``r`` is ``min(channel_base // r, g_width)``.
        d_width: the same for the discriminator.
        channel_base: None (the same width at every resolution) or
            StyleGAN2's ``channel_base`` (32768 for config f at 1024x1024).
        style_mixing: probability of style mixing per example (0.9).
        r1_gamma: R1 weight γ; None picks :func:`default_r1_gamma`.
        r1_interval: discriminator steps between R1 steps (16).
        pl_weight: path-length weight (2; 0 disables it).
        pl_interval: generator steps between path-length steps (4).
        pl_decay: decay of the path-length moving average (0.01).
        pl_batch_shrink: the path-length batch is the replica's batch divided
            by this (2).
        w_avg_beta: decay of the ``w_avg`` moving average (0.995).
        mbstd_group_size: group size of the minibatch standard deviation (4).
        ema_decay: generator EMA decay (0.999; None disables it).
        **kwargs: other :class:`kerasgan.GAN` arguments (``seed``, ``dtype``,
            ``d_steps``).

    References:
        Karras, Laine, Aittala, Hellsten, Lehtinen and Aila, "Analyzing and
        Improving the Image Quality of StyleGAN", CVPR 2020 (arXiv:1912.04958).
        Karras, Laine and Aila, "A Style-Based Generator Architecture for
        Generative Adversarial Networks", CVPR 2019 (arXiv:1812.04948).
        Karras et al., "Training Generative Adversarial Networks with Limited
        Data", NeurIPS 2020 (StyleGAN2-ADA, the reference code).
        Mescheder, Geiger and Nowozin, "Which Training Methods for GANs do
        actually Converge?", ICML 2018 (R1).

    Example:
        >>> gan = kerasgan.models.StyleGAN2(image_shape=(32, 32, 3), latent_dim=128,
        ...                                  mapping_layers=2, g_width=128, d_width=128)
        >>> gan.compile()
        >>> gan.fit(kerasgan.data.load("cifar10", batch_size=32), epochs=1)
        >>> images = gan.generate(16, seed=0, truncation_psi=0.7)
    """

    spec = FamilySpec(
        kind=LATENT_TO_IMAGE, batch="images",
        summary="StyleGAN2: mapping network, modulated convolutions, lazy R1, path length "
                "(Karras et al. 2020)",
        options=(Option("latent_dim", help="size of z and w", minimum=1),
                 Option("g_width", help="largest generator width", minimum=1),
                 Option("d_width", help="largest discriminator width", minimum=1),
                 Option("channel_base", int, help="channels at resolution r: "
                        "min(channel_base // r, width); default by resolution", minimum=1),
                 Option("r1_gamma", float, help="R1 penalty weight; default by resolution",
                        minimum=0.0, metavar="GAMMA"),
                 Option("pl_weight", help="path-length regularisation weight (0 disables it)",
                        minimum=0.0, metavar="W"),
                 Option("style_mixing", help="probability of style mixing", minimum=0.0)),
        sample_options=(Option("truncation_psi", float, None, "truncation: 1 none, 0 the "
                               "average image, e.g. 0.7", metavar="PSI"),),
        recommended={"epochs": 14, "batch_size": 32, "resize": "32"},
        references=("https://arxiv.org/abs/1912.04958",))

    default_loss = "non_saturating"
    tiny_config = {"image_shape": (8, 8, 1), "latent_dim": 8, "mapping_layers": 2, "g_width": 8,
                   "d_width": 8, "r1_interval": 2, "pl_interval": 2}

    def __init__(self, image_shape=(32, 32, 3), latent_dim=512, mapping_layers=8, g_width=512,
                 d_width=512, channel_base=None, style_mixing=0.9, r1_gamma=None, r1_interval=16,
                 pl_weight=2.0, pl_interval=4, pl_decay=0.01, pl_batch_shrink=2, w_avg_beta=0.995,
                 mbstd_group_size=4, ema_decay=0.999, **kwargs):
        self.image_shape = validate_image_shape(image_shape)
        latent_dim = check_int(latent_dim, "latent_dim")
        self.mapping_layers = check_int(mapping_layers, "mapping_layers")
        self.g_width = check_int(g_width, "g_width")
        self.d_width = check_int(d_width, "d_width")
        self.channel_base = None if channel_base is None else check_int(channel_base,
                                                                         "channel_base")
        self.style_mixing = check_number(style_mixing, "style_mixing", lambda v: 0 <= v <= 1,
                                         "a probability in [0, 1]")
        if r1_gamma is None:
            r1_gamma = default_r1_gamma(self.image_shape)
        r1_gamma = check_number(r1_gamma, "r1_gamma", lambda v: v >= 0, "≥ 0 (0 disables R1)")
        self.r1_interval = check_int(r1_interval, "r1_interval")
        self.pl_weight = check_number(pl_weight, "pl_weight", lambda v: v >= 0,
                                      "≥ 0 (0 disables path-length regularisation)")
        self.pl_interval = check_int(pl_interval, "pl_interval")
        self.pl_decay = check_number(pl_decay, "pl_decay", lambda v: 0 < v <= 1, "in (0, 1]")
        self.pl_batch_shrink = check_int(pl_batch_shrink, "pl_batch_shrink")
        self.w_avg_beta = check_number(w_avg_beta, "w_avg_beta", lambda v: 0 <= v < 1,
                                       "in [0, 1)")
        self.mbstd_group_size = check_int(mbstd_group_size, "mbstd_group_size")
        self.num_ws = num_ws(self.image_shape[0])
        with precision.dtype_scope(kwargs.get("dtype")):
            mapping = build_mapping(latent_dim, latent_dim, self.mapping_layers)
            synthesis = build_synthesis(self.image_shape, latent_dim, self.g_width,
                                        self.channel_base)
            generator = build_generator(mapping, synthesis)
            discriminator = build_discriminator(self.image_shape, self.d_width, self.channel_base,
                                                self.mbstd_group_size)
        # set before GAN.__init__, which asks penalty_names() for the trackers
        self.r1_gamma = r1_gamma
        super().__init__(generator, discriminator, latent_dim=latent_dim, r1_gamma=r1_gamma,
                         ema_decay=ema_decay, **kwargs)
        # the path-length target: saved with the model, the same on every replica
        self.pl_mean = self.add_weight(name="pl_mean", shape=(), initializer="zeros",
                                       trainable=False, aggregation="only_first_replica")

    # --------------------------------------------------------------- parts
    @property
    def mapping(self):
        """The mapping network ``z -> w`` (inside ``generator``)."""
        return self.generator.get_layer("mapping")

    @property
    def synthesis(self):
        """The synthesis network ``[ws, noise_0, ...] -> images`` (unclipped)."""
        return self.generator.get_layer("synthesis")

    @property
    def w_avg(self):
        """The tracked average ``w`` (the truncation centre) of ``generator``."""
        return self.generator.get_layer("truncation").w_avg

    def noise_shapes(self):
        return [(r, r, 1) for r in noise_resolutions(self.image_shape[0])]

    def default_optimizers(self):
        return (
            keras.optimizers.Adam(0.0025, beta_1=0.0, beta_2=0.99, epsilon=1e-8),
            keras.optimizers.Adam(0.0025, beta_1=0.0, beta_2=0.99, epsilon=1e-8),
        )

    def penalty_names(self):
        names = ["r1"] if self.r1_gamma > 0 else []
        return names + (["pl"] if self.pl_weight > 0 else [])

    def get_config(self):
        config = super().get_config()
        config.update(
            image_shape=list(self.image_shape), mapping_layers=self.mapping_layers,
            g_width=self.g_width, d_width=self.d_width, channel_base=self.channel_base,
            style_mixing=self.style_mixing, r1_interval=self.r1_interval,
            pl_weight=self.pl_weight, pl_interval=self.pl_interval, pl_decay=self.pl_decay,
            pl_batch_shrink=self.pl_batch_shrink, w_avg_beta=self.w_avg_beta,
            mbstd_group_size=self.mbstd_group_size)
        return config

    # ------------------------------------------------------------ sampling
    def generate(self, n, seed=None, batch_size=256, labels=None, codes=None,
                 truncation_psi=None):
        """Generates ``n`` images (see :meth:`kerasgan.GAN.generate`).

        Args:
            truncation_psi: truncation in W: 1 (default) none, 0 the average
                image, 0.5-0.7 the usual trade of variety for quality. One
                number for all images, or ``n``. The same as
                ``codes={"truncation_psi": psi}``; it draws nothing, so the
                other inputs of a seed stay the same for every ``psi``.

        Raises:
            ValueError: ``truncation_psi`` not a finite number (or ``n`` of them).
        """
        if truncation_psi is not None:
            codes = dict(codes or {}, **{TRUNCATION_INPUT: truncation_psi})
        return super().generate(n, seed=seed, batch_size=batch_size, labels=labels, codes=codes)

    # -------------------------------------------------------------- the step
    def _draw(self, offset, local_batch, global_batch):
        """The random inputs of one generator pass, drawn for the global batch
        from the seed generator and sliced to this replica: ``z``, the mixing
        ``z2``, the mixing coin and crossover, the noise maps."""
        seed = self.seed_generator
        draws = {"z": keras.random.normal((global_batch, self.latent_dim), seed=seed)}
        if self.style_mixing > 0:
            draws["z2"] = keras.random.normal((global_batch, self.latent_dim), seed=seed)
            draws["coin"] = keras.random.uniform((global_batch,), seed=seed)
            draws["cutoff"] = keras.random.randint((global_batch,), 1, max(2, self.num_ws),
                                                   dtype="int32", seed=seed)
        draws["noise"] = [keras.random.normal((global_batch, *shape), seed=seed)
                          for shape in self.noise_shapes()]
        return tf_step.local_slice(draws, offset, local_batch)

    def _latents(self, draws, training=True):
        """``(w, ws)``: the mapping of ``z``, and the per-layer latents after
        style mixing (layers ``>= cutoff`` take ``w2``)."""
        w = self.mapping(draws["z"], training=training)
        ws = ops.repeat(w[:, None, :], self.num_ws, axis=1)
        if self.style_mixing > 0:
            w2 = self.mapping(draws["z2"], training=training)
            cutoff = tf.where(draws["coin"] < self.style_mixing, draws["cutoff"], self.num_ws)
            layer = tf.range(self.num_ws, dtype=tf.int32)[None, :, None]
            ws = tf.where(layer < cutoff[:, None, None], ws, w2[:, None, :])
        return w, ws

    def _synthesize(self, ws, noise, training=True):
        return self._float32(self.synthesis([ws, *noise], training=training))

    def _due(self, optimizer, interval):
        """True on the steps ``optimizer`` makes a regularisation step: its
        step count (the same on every replica) divisible by ``interval``."""
        return tf_step.every(optimizer.iterations, interval)

    def _pl_loss_scale(self):
        if isinstance(self.g_optimizer, keras.optimizers.LossScaleOptimizer):
            return self.g_optimizer.dynamic_scale
        return None

    def train_step(self, data):
        real, _ = self._unpack(data)
        real = self._float32(real)
        local_batch = tf_step.batch_size(real)
        offset, global_batch = tf_step.batch_layout(local_batch)
        scale = tf.cast(global_batch, tf.float32)
        logs = {}  # regulariser name -> (per-example values, due as 0/1)

        for _ in range(self.d_steps):
            draws = self._draw(offset, local_batch, global_batch)
            _, ws = self._latents(draws)
            fake = self._synthesize(ws, draws["noise"])

            def d_loss(_, fake=fake):
                real_logits = self._discriminate32(real, None)
                fake_logits = self._discriminate32(fake, None)
                per_example = self.d_loss_fn(real_logits, fake_logits)
                return per_example, (per_example, real_logits)

            r1_gradients = None
            if self.r1_gamma > 0:
                # lazy R1 (gamma / 2 * ||grad D(x)||^2 on reals), weighted by the interval
                weight = 0.5 * self.r1_gamma * self.r1_interval

                def r1_term():
                    r1 = penalties.r1_penalty(self.critic(), real,
                                              loss_scale=self.penalty_loss_scale())
                    return weight * tf.reduce_sum(r1) / scale, r1

                def r1_gradients(_):
                    due = self._due(self.d_optimizer, self.r1_interval)
                    grads, r1 = tf_step.conditional_gradients(
                        due, r1_term, self.discriminator_trainable_variables(),
                        self.d_optimizer, (local_batch,))
                    logs["r1"] = (r1, tf.cast(due, tf.float32))
                    return grads

            d_per_example, real_logits = self.minimize("d", d_loss, global_batch,
                                                       extra_gradients=r1_gradients)
            self.observe_real_logits(real_logits)

        draws = self._draw(offset, local_batch, global_batch)

        def g_loss(_):
            w, ws = self._latents(draws)
            fake = self._synthesize(ws, draws["noise"])
            fake_logits = self._discriminate32(fake, None)
            per_example = self.g_loss_fn(fake_logits)
            return per_example, (per_example, w)

        pl_gradients = None
        if self.pl_weight > 0:
            def pl_gradients(_):
                # the path-length batch: this replica's batch / pl_batch_shrink, drawn
                # for the global path-length batch like every other draw
                local_pl = tf.maximum(local_batch // self.pl_batch_shrink, 1)
                pl_offset, global_pl = tf_step.batch_layout(local_pl)
                pl_draws = self._draw(pl_offset, local_pl, global_pl)
                h, w_, c = self.image_shape
                pl_y = tf_step.local_slice(
                    keras.random.normal((global_pl, h, w_, c), seed=self.seed_generator),
                    pl_offset, local_pl) / math.sqrt(h * w_)
                pl_count = tf.cast(global_pl, tf.float32)
                pl_target = tf.convert_to_tensor(self.pl_mean)
                weight = self.pl_weight * self.pl_interval

                def pl_term():
                    _, pl_ws = self._latents(pl_draws)
                    lengths = penalties.path_lengths(
                        lambda x: self._synthesize(x, pl_draws["noise"]), pl_ws, pl_y,
                        loss_scale=self._pl_loss_scale())
                    penalty = penalties.path_length_penalty(lengths, pl_target)
                    return weight * tf.reduce_sum(penalty) / pl_count, lengths

                due = self._due(self.g_optimizer, self.pl_interval)
                grads, lengths = tf_step.conditional_gradients(
                    due, pl_term, self.generator_trainable_variables(), self.g_optimizer,
                    (local_pl,))
                logs["pl"] = (penalties.path_length_penalty(lengths, pl_target),
                              tf.cast(due, tf.float32))
                # the running mean of the global batch's path lengths; skipped on a
                # step whose lengths overflowed (mixed_float16: the loss-scale
                # optimizer skips that step and lowers the scale)
                batch_mean = tf_step.global_sum(tf.reduce_sum(lengths)) / pl_count
                update = tf.logical_and(due, tf.math.is_finite(batch_mean))
                self.pl_mean.assign(
                    tf.where(update, pl_target + self.pl_decay * (batch_mean - pl_target),
                             pl_target))
                return grads

        g_per_example, w = self.minimize("g", g_loss, global_batch,
                                         extra_gradients=pl_gradients)

        # w_avg: moving average of the global batch mean of w (StyleGAN2-ADA)
        w_mean = tf_step.global_sum(tf.reduce_sum(tf.cast(tf.stop_gradient(w), tf.float32),
                                                  axis=0)) / scale
        w_avg = self.w_avg
        w_avg.assign(w_mean + self.w_avg_beta * (tf.convert_to_tensor(w_avg) - w_mean))
        # the EMA after w_avg, a buffer of the generator it copies
        self._update_ema()

        # Metric variables sum across replicas: these are global means. r1 and
        # pl: means over the steps that ran them (and, under mixed_float16, did
        # not overflow: those steps were skipped).
        self.d_loss_tracker.update_state(d_per_example)
        self.g_loss_tracker.update_state(g_per_example)
        for name in ("r1", "pl"):
            if name in logs:
                self._log_regulariser(name, *logs[name])
        self.adjust_augmentation(global_batch)
        return self._step_logs()

    def _log_regulariser(self, name, values, due):
        finite = tf.math.is_finite(values)
        weight = tf.where(finite, due, 0.0)
        self.extra_trackers[name].update_state(tf.where(finite, values, 0.0),
                                               sample_weight=weight)
