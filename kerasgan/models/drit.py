"""DRIT / DRIT++ (Lee et al. 2018, 2020): diverse unpaired translation from a
shared content space and per-domain Gaussian attribute codes."""

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from kerasgan import precision
from kerasgan.core import tf_step
from kerasgan.layers import ReflectionPadding2D
from kerasgan.models import register
from kerasgan.models.image_conditioned import ImageConditionedGAN, _as_channels, validate_shape
from kerasgan.sampling import check_seed, infer_input_specs
from kerasgan.spec import ENCODER_TRANSLATION, FamilySpec, Option
from kerasgan.utils import DIRECTIONS, check_direction, check_int

#: the mode-seeking term's epsilon (DRIT++'s ``1 / (lz + 1e-5)``)
MODE_SEEKING_EPS = 1e-5


def _init():
    # the reference's gaussian_weights_init: convolutions from N(0, 0.02)
    return keras.initializers.RandomNormal(0.0, 0.02)


def _instance_norm(name):
    # InstanceNorm2d(affine=False), the reference's default
    return layers.GroupNormalization(groups=-1, epsilon=1e-5, center=False, scale=False,
                                     name=name)


def _conv(x, channels, kernel, stride, pad, name, bias=True):
    if pad:
        x = ReflectionPadding2D(pad, name=f"{name}_pad")(x)
    return layers.Conv2D(channels, kernel, strides=stride, use_bias=bias,
                         kernel_initializer=_init(), name=name)(x)


def _res_block(x, channels, name):
    """INSResBlock: two reflection-padded 3x3 convolutions with instance norm
    (ReLU between), added to the input. A conv followed by instance norm has
    no bias (the norm removes it exactly)."""
    y = _conv(x, channels, 3, 1, 1, f"{name}_conv1", bias=False)
    y = layers.ReLU(name=f"{name}_relu")(_instance_norm(f"{name}_norm1")(y))
    y = _conv(y, channels, 3, 1, 1, f"{name}_conv2", bias=False)
    y = _instance_norm(f"{name}_norm2")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def build_content_encoder(image_shape, width=64, n_blocks=3, n_downsampling=2,
                          name="content_encoder"):
    """A domain's own content layers (DRIT's ``E_content`` up to the shared
    block): ``c7s1-w`` with LeakyReLU, two stride-2 3x3 convs (instance norm,
    ReLU) to ``4w`` channels, ``n_blocks`` residual blocks. ``(H, W, C)`` ->
    ``(H/4, W/4, 4w)`` (``n_downsampling`` stride-2 convs: 2)."""
    inputs = keras.Input(tuple(image_shape), name="inputs")
    x = _conv(inputs, width, 7, 1, 3, "in_conv")
    x = layers.LeakyReLU(0.01, name="in_lrelu")(x)
    channels = width
    for i in range(n_downsampling):
        channels *= 2
        x = _conv(x, channels, 3, 2, 1, f"down{i}", bias=False)
        x = layers.ReLU(name=f"down{i}_relu")(_instance_norm(f"down{i}_norm")(x))
    for b in range(n_blocks):
        x = _res_block(x, channels, f"res{b}")
    return keras.Model(inputs, x, name=name)


def build_shared_block(content_shape, name):
    """One residual block both domains share (the last layer of the content
    encoders, and the first of the generators)."""
    inputs = keras.Input(tuple(content_shape), name="content")
    return keras.Model(inputs, _res_block(inputs, content_shape[-1], "shared"), name=name)


def attribute_blocks(image_shape):
    """Down-sampling blocks of the attribute encoder: the reference's 3, fewer
    for images under 16 pixels (each block halves the size)."""
    return max(1, min(3, int(math.log2(min(image_shape[:2]))) - 1))


def build_attribute_encoder(image_shape, width=64, attribute_dim=8, name="attribute_encoder"):
    """DRIT++'s ``E_attr_concat``: a stride-2 4x4 conv, three residual
    down-sampling blocks (LeakyReLU 0.2, no norm, mean pooling; fewer below
    16 pixels: :func:`attribute_blocks`), global mean pooling, and two linear
    heads: the mean and log-variance of a Gaussian attribute code. ``(H, W,
    C)`` -> ``[mu, logvar]``, each ``(attribute_dim,)``."""
    inputs = keras.Input(tuple(image_shape), name="inputs")
    x = ReflectionPadding2D(1, name="in_pad")(inputs)
    x = layers.Conv2D(width, 4, strides=2, kernel_initializer=_init(), name="in_conv")(x)
    for n in range(1, 1 + attribute_blocks(image_shape)):
        cin, cout = width * min(4, n), width * min(4, n + 1)
        y = layers.LeakyReLU(0.2, name=f"block{n}_act1")(x)
        y = _conv(y, cin, 3, 1, 1, f"block{n}_conv1")
        y = layers.LeakyReLU(0.2, name=f"block{n}_act2")(y)
        y = _conv(y, cout, 3, 1, 1, f"block{n}_conv2")
        y = layers.AveragePooling2D(2, name=f"block{n}_pool")(y)
        s = layers.AveragePooling2D(2, name=f"block{n}_skip_pool")(x)
        s = layers.Conv2D(cout, 1, kernel_initializer=_init(), name=f"block{n}_skip")(s)
        x = layers.Add(name=f"block{n}_add")([y, s])
    x = layers.LeakyReLU(0.2, name="out_act")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    mu = layers.Dense(attribute_dim, name="mu")(x)
    logvar = layers.Dense(attribute_dim, name="logvar")(x)
    return keras.Model(inputs, [mu, logvar], name=name)


class TileAttribute(layers.Layer):
    """Concatenates an attribute code ``(B, nz)``, repeated over the height
    and width, to a feature map ``(B, H, W, C)`` -> ``(B, H, W, C + nz)``
    (DRIT++'s ``G_concat``)."""

    def call(self, inputs):
        features, z = inputs
        z = keras.ops.cast(z, features.dtype)
        shape = keras.ops.shape(features)
        tiled = keras.ops.broadcast_to(keras.ops.expand_dims(keras.ops.expand_dims(z, 1), 1),
                                       (shape[0], shape[1], shape[2], keras.ops.shape(z)[-1]))
        return keras.ops.concatenate([features, tiled], axis=-1)

    def compute_output_shape(self, input_shapes):
        features, z = input_shapes
        channels = None if features[-1] is None or z[-1] is None else features[-1] + z[-1]
        return (*features[:-1], channels)


keras.saving.register_keras_serializable(package="kerasgan")(TileAttribute)


class Modulate(layers.Layer):
    """``x * (1 + gamma) + beta`` with ``[gamma, beta]`` ``(B, 2C)`` computed
    from the attribute code: the attribute's scale and shift of a normalised
    feature map ``(B, H, W, C)`` (adaptive instance norm)."""

    def call(self, inputs):
        x, style = inputs
        style = keras.ops.cast(style, x.dtype)
        gamma, beta = keras.ops.split(style, 2, axis=-1)
        gamma = keras.ops.expand_dims(keras.ops.expand_dims(gamma, 1), 1)
        beta = keras.ops.expand_dims(keras.ops.expand_dims(beta, 1), 1)
        return x * (1.0 + gamma) + beta

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


keras.saving.register_keras_serializable(package="kerasgan")(Modulate)


def build_generator(content_shape, output_channels=3, attribute_dim=8, n_blocks=3,
                    n_upsampling=2, name="generator"):
    """A domain's generator after the shared block: ``n_blocks`` residual
    blocks on the content, then ``n_upsampling`` stages of a nearest x2 resize,
    a 3x3 conv, instance norm whose scale and shift the attribute sets
    (``x * (1 + gamma(z)) + beta(z)``, a linear map of ``z`` initialised to
    zero, so it starts as plain instance norm) and ReLU, and a 1x1 output conv
    (tanh) on the features with the attribute concatenated.

    DRIT++'s ``G_concat`` concatenates the attribute (tiled) before every
    stage, each a conv followed by instance norm: a constant channel through a
    conv is a constant the norm subtracts, so those kernel weights get no
    gradient (round-off, which Adam turns into steps of the learning rate), and
    its stride-2 transposed convs turn the constant into a checkerboard. Here
    the attribute acts through the norms' scale and shift instead, and through
    the output conv as in the reference.
    ``[content (H/4, W/4, 4w), attribute (nz,)]`` -> images ``(H, W, C)``."""
    content = keras.Input(tuple(content_shape), name="content")
    attribute = keras.Input((attribute_dim,), name="attribute")
    x, channels = content, content_shape[-1]
    for b in range(n_blocks):
        x = _res_block(x, channels, f"res{b}")
    for i in range(n_upsampling):
        channels //= 2
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}_resize")(x)
        x = _conv(x, channels, 3, 1, 1, f"up{i}", bias=False)
        x = _instance_norm(f"up{i}_norm")(x)
        style = layers.Dense(2 * channels, kernel_initializer="zeros", name=f"up{i}_style")(
            attribute)
        x = Modulate(name=f"up{i}_modulate")([x, style])
        x = layers.ReLU(name=f"up{i}_relu")(x)
    x = TileAttribute(name="concat")([x, attribute])
    x = layers.Conv2D(output_channels, 1, kernel_initializer=_init(), name="out_conv")(x)
    images = layers.Activation("tanh", dtype="float32", name="images")(x)
    return keras.Model([content, attribute], images, name=name)


def build_domain_discriminator(image_shape, width=64, n_layers=5, name="discriminator"):
    """DRIT's ``Dis``: ``n_layers`` reflection-padded stride-2 3x3 convs with
    LeakyReLU (no norm), channels doubling from ``width``, then a 1x1 conv to a
    map of real/fake logits."""
    inputs = keras.Input(tuple(image_shape), name="images")
    x, channels = inputs, width
    for i in range(n_layers):
        x = _conv(x, channels, 3, 2, 1, f"conv{i}")
        x = layers.LeakyReLU(0.01, name=f"lrelu{i}")(x)
        channels *= 2
    logits = layers.Conv2D(1, 1, kernel_initializer=_init(), name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def build_content_discriminator(content_shape, name="content_discriminator"):
    """Tells domain A's content codes (logit 0) from B's (logit 1). DRIT's
    ``Dis_content`` uses three stride-2 7x7 convs, which a 32x32 image's 8x8
    content cannot take: here stride-2 3x3 convs with LeakyReLU down to 2x2 (at
    most three), a 1x1 conv, global mean pooling and a linear logit. No
    normalisation: the reference's layers ask for instance norm but never get it
    (its ``LeakyReLUConv2d`` tests ``'norm' == 'Instance'``, two string
    literals), and an instance norm over a 2x2 map (four values) makes the
    step's round-off grow too fast to compare a mirrored run with one device."""
    inputs = keras.Input(tuple(content_shape), name="content")
    x, size, channels = inputs, min(content_shape[:2]), content_shape[-1]
    for i in range(3):
        if size <= 2:
            break
        x = layers.Conv2D(channels, 3, strides=2, padding="same", use_bias=False,
                          kernel_initializer=_init(), name=f"conv{i}")(x)
        x = layers.LeakyReLU(0.01, name=f"lrelu{i}")(x)
        size = (size + 1) // 2
    x = layers.Conv2D(channels, 1, kernel_initializer=_init(), name="mix")(x)
    x = layers.LeakyReLU(0.01, name="mix_lrelu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, layers.Dense(1, name="logit")(x), name=name)


def build_translator(content_encoder, shared_encoder, shared_generator, generator,
                     image_shape, attribute_dim, name):
    """One direction as one network: ``[inputs (H, W, C), attribute (nz,)]``
    -> images; the content path of the source domain and the target domain's
    generator (the networks are shared with the model, not copied)."""
    inputs = keras.Input(tuple(image_shape), name="inputs")
    attribute = keras.Input((attribute_dim,), name="attribute")
    content = shared_encoder(content_encoder(inputs))
    images = generator([shared_generator(content), attribute])
    return keras.Model([inputs, attribute], images, name=name)


def _bce_per_example(logits, target):
    """Binary cross-entropy of ``sigmoid(logits)`` against a constant
    ``target`` (1, 0 or DRIT's 0.5 for the content codes), averaged per example."""
    x = tf.cast(logits, tf.float32)
    x = tf.reshape(x, [tf.shape(x)[0], -1])
    loss = target * tf.nn.softplus(-x) + (1.0 - target) * tf.nn.softplus(x)
    return tf.reduce_mean(loss, axis=1)


def _l1(x, y):
    d = tf.abs(tf.cast(x, tf.float32) - tf.cast(y, tf.float32))
    return tf.reduce_mean(tf.reshape(d, [tf.shape(d)[0], -1]), axis=1)


def kl_per_example(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) per example: ``0.5 * sum(mu^2 +
    exp(logvar) - 1 - logvar)``."""
    mu, logvar = tf.cast(mu, tf.float32), tf.cast(logvar, tf.float32)
    return 0.5 * tf.reduce_sum(tf.square(mu) + tf.exp(logvar) - 1.0 - logvar, axis=1)


def mode_seeking_per_example(out1, out2, z1, z2):
    """DRIT++'s mode-seeking term per example: ``1 / (lz + 1e-5)`` with ``lz
    = mean|G(c, z1) - G(c, z2)| / mean|z1 - z2|``."""
    lz = _l1(out1, out2) / _l1(z1, z2)
    return 1.0 / (lz + MODE_SEEKING_EPS)


@register("drit")
@keras.saving.register_keras_serializable(package="kerasgan")
class DRIT(ImageConditionedGAN):
    """DRIT++: diverse translation between two unpaired domains A and B.

    Each image splits into a **content** code (spatial, domain-invariant:
    ``content_encoder_a/b``, whose last residual block is shared) and an
    **attribute** code (a Gaussian ``N(mu, exp(logvar))`` of ``attribute_dim``
    values per domain: ``attribute_encoder_a/b``). The generator of a domain
    (``generator_a/b``, whose first residual block is shared) renders a content
    code with an attribute code. So one input gives many outputs (attributes
    drawn from ``N(0, I)``), or the style of a reference image (its attribute).

    One step on an ``(a, b)`` batch of unrelated images:

    1. encoders and generators (one optimizer), per example: the adversarial
       terms of the cross translations ``G_A(c_b, z_a)``, ``G_B(c_a, z_b)`` and
       of the translations with random attributes ``z1``, ``z2 ~ N(0, I)``
       (non-saturating, sigmoid cross-entropy); the content adversarial term
       (each content code pushed to 0.5 on the content discriminator,
       ``content_weight``); cross-cycle consistency (translate, re-encode,
       translate back: ``cycle_weight`` 10) and self-reconstruction
       (``G_A(c_a, z_a)``: ``reconstruction_weight`` 10), L1; the KL term of the
       attribute codes (``kl_weight`` 0.01) and the L2 of the content codes
       (``content_l2_weight`` 0.01); latent regression ``|E_attr(G(c, z1)) -
       z1|`` (``latent_weight`` 10), which updates the generators and content
       encoders only (the attribute encoder runs on stopped weights, as the
       reference's ``update_EG`` leaves it out); and the mode-seeking term
       ``1 / (lz + 1e-5)`` (``mode_seeking_weight`` 1; 0 is DRIT without it).
       Content codes get N(0, 1) noise in training (the reference's
       ``GaussianNoiseLayer``), drawn for the global batch;
    2. discriminators (one optimizer over ``D_A``, ``D_B`` and the content
       discriminator): real against each of the three fakes of step 1 per
       domain, and A's content codes (0) against B's (1).

    Where this differs from the reference code (all to fit one two-player
    step that is exact under ``tf.distribute``): one discriminator per domain
    judges both the encoded and the random-attribute translations (the
    reference has a second pair, ``disA2``/``disB2``); the whole batch is used
    for every term (the reference splits it in halves); one optimizer per
    player, so the content discriminator has the learning rate of the others
    (the reference: 1/2.5 of it, with 3 content updates per full update, and
    gradient clipping at 5) and no weight decay. Optimizers: Adam(1e-4,
    beta_1=0.5, beta_2=0.999), the reference's.

    Networks (``width`` 64, ``attribute_dim`` 8 in the paper): content
    encoders ``c7s1-w, d2w, d4w, R4w x3`` + a shared ``R4w``; attribute
    encoders of DRIT++ (``E_attr_concat``); generators ``R x1`` shared, then
    ``R x3, u, u, 1x1-tanh`` with the attribute setting the scale and shift
    of the up-sampling stages' norms and concatenated before the output conv
    (:func:`build_generator`: why not before every stage, as ``G_concat``);
    discriminators of DRIT (``Dis``). Every network is built at the fixed
    ``image_shape`` (heights and widths multiples of 4, at least 8).

    The translator of a direction, ``translator_ab`` (``generator``, what
    ``generate``, ``translate`` and the export use) and ``translator_ba``, is
    one network ``[inputs, attribute] -> images``.

    Args:
        image_shape: ``(H, W, C)`` of both domains' images.
        width: channels of the first encoder layer (64).
        attribute_dim: size of the attribute code (8).
        n_blocks: residual blocks of each content encoder and generator, besides
            the shared one (3).
        n_downsampling: stride-2 convolutions of the content encoders (and
            up-sampling stages of the generators): 2, a content map of a
            quarter of the image's height and width.
        d_width: discriminator channels of the first layer (64).
        d_layers: stride-2 layers of the domain discriminators (default: 5 at
            32 pixels, 6 at 64 and above, the reference's).
        cycle_weight, reconstruction_weight, kl_weight, content_l2_weight,
        latent_weight, mode_seeking_weight, content_weight: the loss weights.
        **kwargs: :class:`kerasgan.core.ImageConditionedGAN` arguments
            (``ema_decay``, ``seed``, ``name``, ``dtype``).

    References:
        Lee, Tseng, Huang, Singh and Yang, "Diverse Image-to-Image Translation
        via Disentangled Representations", ECCV 2018 (arXiv:1808.00948);
        Lee et al., "DRIT++: Diverse Image-to-Image Translation via
        Disentangled Representations", IJCV 2020 (arXiv:1905.01270).

    Example:
        >>> src = kerasgan.data.open_unpaired("cats", "dogs", resize=32)
        >>> gan = kerasgan.models.DRIT(image_shape=(32, 32, 3))
        >>> gan.compile()
        >>> gan.fit(src.dataset(8, seed=0, flip=True), epochs=5)
        >>> dogs = gan.translate(cats, n=4, seed=0)            # (len(cats), 4, 32, 32, 3)
        >>> styled = gan.translate(cats, reference=some_dogs)  # the dogs' attributes
    """

    spec = FamilySpec(
        kind=ENCODER_TRANSLATION, batch="unpaired", directions=DIRECTIONS,
        summary="DRIT++: diverse unpaired translation, content + attribute codes "
                "(Lee et al. 2018, 2020)",
        options=(Option("width", help="encoder width (channels of the first layer)",
                        minimum=1),
                 Option("attribute_dim", help="size of the attribute code", minimum=1),
                 Option("n_blocks", help="residual blocks of each content encoder and "
                        "generator, besides the shared one", minimum=0),
                 Option("n_downsampling", help="stride-2 convolutions of the content "
                        "encoders (the content map is 2^n times smaller)", minimum=1),
                 Option("d_width", help="discriminator width", minimum=1),
                 Option("d_layers", int, help="stride-2 layers of the domain "
                        "discriminators; default 5 at 32 pixels, 6 above", minimum=1),
                 Option("cycle_weight", help="cross-cycle consistency weight", minimum=0.0),
                 Option("reconstruction_weight", help="self-reconstruction weight",
                        minimum=0.0),
                 Option("kl_weight", help="KL weight of the attribute codes", minimum=0.0),
                 Option("content_l2_weight", help="L2 weight of the content codes",
                        minimum=0.0),
                 Option("latent_weight", help="latent regression weight", minimum=0.0),
                 Option("mode_seeking_weight", help="mode-seeking weight (0: DRIT without "
                        "DRIT++'s term)", minimum=0.0),
                 Option("content_weight", help="content adversarial weight", minimum=0.0)),
        recommended={"epochs": 20, "batch_size": 2, "flip": True},
        references=("https://arxiv.org/abs/1808.00948", "https://arxiv.org/abs/1905.01270"))

    # one down-sampling: a 4x4 content map (at 2x2 the instance norms see 4
    # values). Without the mode-seeking term: at initialisation it divides by
    # the difference of two nearly equal images, so its gradients are round-off
    # that Adam turns into steps of the learning rate, and a mirrored run
    # drifts from one device by ~1e-4 in three steps. The generic checks run
    # on this config; tests/test_drit.py checks the first step with it on.
    tiny_config = {"image_shape": (8, 8, 1), "width": 4, "attribute_dim": 2, "n_blocks": 1,
                   "n_downsampling": 1, "d_width": 4, "d_layers": 2,
                   "mode_seeking_weight": 0.0}
    default_loss = "non_saturating"
    pair_names = ("domain A", "domain B")
    data_hint = "kerasgan.data.open_unpaired(...).dataset(...)"

    def __init__(self, image_shape=(256, 256, 3), width=64, attribute_dim=8, n_blocks=3,
                 n_downsampling=2, d_width=64, d_layers=None, cycle_weight=10.0, reconstruction_weight=10.0,
                 kl_weight=0.01, content_l2_weight=0.01, latent_weight=10.0,
                 mode_seeking_weight=1.0, content_weight=1.0, **kwargs):
        self.image_shape = validate_shape(image_shape, "image_shape")
        height, width_px, channels = self.image_shape
        if height % 4 or width_px % 4 or min(height, width_px) < 8:
            raise ValueError(
                f"drit takes heights and widths that are multiples of 4 and at least 8 (its "
                f"content encoder halves them twice), got {height}x{width_px}: resize the data")
        self.input_shape_ = self.image_shape
        self.size_multiple = 4
        self.width, self.attribute_dim = check_int(width, "width"), check_int(
            attribute_dim, "attribute_dim")
        self.n_blocks, self.d_width = int(n_blocks), check_int(d_width, "d_width")
        self.n_downsampling = check_int(n_downsampling, "n_downsampling")
        if self.n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {n_blocks}")
        most = int(math.log2(min(height, width_px)))
        self.d_layers = (min(6, most) if d_layers is None else check_int(d_layers, "d_layers"))
        if self.d_layers > most:
            raise ValueError(f"d_layers={self.d_layers} halves {height}x{width_px} images below "
                             f"one pixel: at most {most}")
        self.loss_weights_ = {}
        for key, value in (("cycle_weight", cycle_weight),
                           ("reconstruction_weight", reconstruction_weight),
                           ("kl_weight", kl_weight), ("content_l2_weight", content_l2_weight),
                           ("latent_weight", latent_weight),
                           ("mode_seeking_weight", mode_seeking_weight),
                           ("content_weight", content_weight)):
            value = float(value)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{key} must be a finite number >= 0, got {value}")
            self.loss_weights_[key] = value
            setattr(self, key, value)
        scale = 2**self.n_downsampling
        if height % scale or width_px % scale:
            raise ValueError(f"drit with n_downsampling={self.n_downsampling} takes heights and "
                             f"widths that are multiples of {scale}, got {height}x{width_px}")
        self.content_shape = (height // scale, width_px // scale, scale * self.width)
        with precision.dtype_scope(kwargs.get("dtype")):
            self.content_encoder_a = build_content_encoder(
                self.image_shape, self.width, self.n_blocks, self.n_downsampling,
                name="content_encoder_a")
            self.content_encoder_b = build_content_encoder(
                self.image_shape, self.width, self.n_blocks, self.n_downsampling,
                name="content_encoder_b")
            self.content_shared = build_shared_block(self.content_shape, "content_shared")
            self.attribute_encoder_a = build_attribute_encoder(
                self.image_shape, self.width, self.attribute_dim, name="attribute_encoder_a")
            self.attribute_encoder_b = build_attribute_encoder(
                self.image_shape, self.width, self.attribute_dim, name="attribute_encoder_b")
            self.generator_shared = build_shared_block(self.content_shape, "generator_shared")
            self.generator_a = build_generator(self.content_shape, channels, self.attribute_dim,
                                               self.n_blocks, self.n_downsampling,
                                               name="generator_a")
            self.generator_b = build_generator(self.content_shape, channels, self.attribute_dim,
                                               self.n_blocks, self.n_downsampling,
                                               name="generator_b")
            d_b = build_domain_discriminator(self.image_shape, self.d_width, self.d_layers,
                                             name="discriminator_b")
            d_a = build_domain_discriminator(self.image_shape, self.d_width, self.d_layers,
                                             name="discriminator_a")
            self.content_discriminator = build_content_discriminator(self.content_shape)
            ab = build_translator(self.content_encoder_a, self.content_shared,
                                  self.generator_shared, self.generator_b, self.image_shape,
                                  self.attribute_dim, "translator_ab")
            ba = build_translator(self.content_encoder_b, self.content_shared,
                                  self.generator_shared, self.generator_a, self.image_shape,
                                  self.attribute_dim, "translator_ba")
        # the EMA (when asked) keeps a copy of each inference network, and the
        # copies are wired into translators exactly as the networks are
        ema_decay = kwargs.pop("ema_decay", None)
        ema_warmup = kwargs.pop("ema_warmup", False)
        super().__init__(ab, d_b, ema_decay=None, **kwargs)
        self._check_ema(ema_decay, ema_warmup)
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.ema_warmup = bool(ema_warmup)
        self.translator_ba = ba
        self.discriminator_a = d_a
        self.ema_networks = None if self.ema_decay is None else {
            n: self._ema_copy(getattr(self, n), f"ema_{n}") for n in self.INFERENCE_NETWORKS}
        self.ema_translator_ba = None
        if self.ema_decay is not None:
            e = self.ema_networks
            self.ema_generator = build_translator(
                e["content_encoder_a"], e["content_shared"], e["generator_shared"],
                e["generator_b"], self.image_shape, self.attribute_dim, "ema_translator_ab")
            self.ema_translator_ba = build_translator(
                e["content_encoder_b"], e["content_shared"], e["generator_shared"],
                e["generator_a"], self.image_shape, self.attribute_dim, "ema_translator_ba")

    #: the networks inference uses (what the EMA keeps and the zoo ships)
    INFERENCE_NETWORKS = ("content_encoder_a", "content_encoder_b", "content_shared",
                          "attribute_encoder_a", "attribute_encoder_b", "generator_shared",
                          "generator_a", "generator_b")

    def inference_networks(self, ema=True):
        """``{name: network}`` of :data:`INFERENCE_NETWORKS`: the EMA copies
        when ``ema`` and the model keeps them."""
        if ema and self.ema_networks is not None:
            return dict(self.ema_networks)
        return {n: getattr(self, n) for n in self.INFERENCE_NETWORKS}

    def zoo_networks(self, ema=True):
        """One model holding every inference network (both translators and
        both attribute encoders): what a zoo entry's weights file holds."""
        n = self.inference_networks(ema)
        a = keras.Input(self.image_shape, name="a")
        b = keras.Input(self.image_shape, name="b")
        z = keras.Input((self.attribute_dim,), name="attribute")
        to_b = n["generator_b"]([n["generator_shared"](n["content_shared"](
            n["content_encoder_a"](a))), z])
        to_a = n["generator_a"]([n["generator_shared"](n["content_shared"](
            n["content_encoder_b"](b))), z])
        return keras.Model([a, b, z], [to_b, to_a, n["attribute_encoder_a"](a)[0],
                                       n["attribute_encoder_b"](b)[0]], name="drit_networks")

    def get_config(self):
        config = super().get_config()
        config.update(image_shape=list(self.image_shape), width=self.width,
                      attribute_dim=self.attribute_dim, n_blocks=self.n_blocks,
                      n_downsampling=self.n_downsampling,
                      d_width=self.d_width, d_layers=self.d_layers, **self.loss_weights_)
        return config

    # ----------------------------------------------------------- networks
    @property
    def latent_dim(self):
        """The size of the translators' one random input, the attribute code
        (what export metadata records as ``latent_dim``)."""
        return self.attribute_dim

    @property
    def translator_ab(self):
        """A → B as one network (``generator``)."""
        return self.generator

    @property
    def discriminator_b(self):
        return self.discriminator

    @staticmethod
    def _unique(variables):
        seen, out = set(), []
        for v in variables:
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
        return out

    def generator_trainable_variables(self):
        nets = (self.content_encoder_a, self.content_encoder_b, self.content_shared,
                self.attribute_encoder_a, self.attribute_encoder_b, self.generator_shared,
                self.generator_a, self.generator_b)
        return self._unique([v for n in nets for v in n.trainable_variables])

    def discriminator_trainable_variables(self):
        nets = (self.discriminator_a, self.discriminator, self.content_discriminator)
        return self._unique([v for n in nets for v in n.trainable_variables])

    def default_optimizers(self):
        return (keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.999),
                keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.999))

    def penalty_names(self):
        return ["g_gan", "content_gan", "cycle", "reconstruction", "kl", "latent",
                "mode_seeking", "d_content"]

    def ema_pairs(self):
        if self.ema_networks is None:
            return []
        return [(self.ema_networks[n], getattr(self, n)) for n in self.INFERENCE_NETWORKS]

    # ------------------------------------------------------------ directions
    check_direction = staticmethod(check_direction)

    def sampling_generator_for(self, direction="AtoB"):
        """The translator of ``direction`` inference uses (its EMA copy when
        enabled): ``[inputs, attribute] -> images``."""
        if check_direction(direction) == "AtoB":
            return self.sampling_generator
        return self.ema_translator_ba if self.ema_translator_ba is not None \
            else self.translator_ba

    def attribute_encoder_for(self, domain):
        """The attribute encoder of domain ``"A"`` or ``"B"`` inference uses."""
        return self.inference_networks()[f"attribute_encoder_{domain.lower()}"]

    def generator_inputs(self, direction="AtoB"):
        return infer_input_specs(self.sampling_generator_for(direction),
                                 image_shape=self.input_shape_, size_multiple=4)

    #: the output name of each export part
    export_part_outputs = {"generator": "images", "content_encoder": "content",
                           "attribute_encoder": "attribute"}

    def export_parts(self, direction="AtoB"):
        """The networks exported beside the translator of ``direction``, each
        with one output: ``{"generator": [content, attribute] -> images (the
        target domain's, with the shared block), "content_encoder": images ->
        content (the source domain's, with the shared block),
        "attribute_encoder": images -> attribute (the target domain's mean
        code, for reference-guided translation)}``; from the EMA copies when
        enabled."""
        target = "B" if check_direction(direction) == "AtoB" else "A"
        source = "A" if target == "B" else "B"
        nets = self.inference_networks()
        enc = nets[f"content_encoder_{source.lower()}"]
        shared_c, shared_g = nets["content_shared"], nets["generator_shared"]
        gen = nets[f"generator_{target.lower()}"]
        images = keras.Input(self.image_shape, name="inputs")
        content = layers.Identity(name="content", dtype="float32")(shared_c(enc(images)))
        content_encoder = keras.Model(images, content, name=f"content_encoder_{source.lower()}")
        content = keras.Input(self.content_shape, name="content")
        attribute = keras.Input((self.attribute_dim,), name="attribute")
        generator = keras.Model([content, attribute], gen([shared_g(content), attribute]),
                                name=f"generator_{target.lower()}")
        reference = keras.Input(self.image_shape, name="inputs")
        mu = self.attribute_encoder_for(target)(reference)[0]
        mu = layers.Identity(name="attribute", dtype="float32")(mu)
        attribute_encoder = keras.Model(reference, mu,
                                        name=f"attribute_encoder_{target.lower()}")
        return {"generator": generator, "content_encoder": content_encoder,
                "attribute_encoder": attribute_encoder}

    # -------------------------------------------------------------- using it
    def attributes(self, images, domain):
        """The mean attribute codes ``(N, attribute_dim)`` of images of
        ``domain`` (``"A"`` or ``"B"``)."""
        x = self.check_inputs(images)
        mu = self._predict(keras.Model(self.attribute_encoder_for(domain).inputs,
                                       self.attribute_encoder_for(domain).outputs[0]), x, 64)
        return np.asarray(mu, dtype="float32")

    def translate(self, images, batch_size=16, direction="AtoB", n=None, seed=None,
                  attributes=None, reference=None):
        """Translates ``images`` of the source domain of ``direction``.

        Args:
            images: float NHWC in [-1, 1] (one ``(H, W, C)`` image: a batch of one).
            batch_size: images per forward pass.
            direction: ``"AtoB"`` (default) or ``"BtoA"``.
            n: attributes per image, drawn from ``N(0, I)`` with ``seed``:
                returns ``(N, n, H, W, C)``. None: one each, ``(N, H, W, C)``.
            seed: seed of the attribute draws (kerasgan's seed rule: the
                attribute of image ``i``, sample ``j`` is row ``i * n + j`` of
                ``default_rng(seed).standard_normal``).
            attributes: attribute codes to use, ``(attribute_dim,)`` for all
                or ``(N, attribute_dim)`` (``interpolate`` builds them).
            reference: images of the target domain whose attributes are used
                (reference-guided translation): one for all images, or N.

        Returns:
            float32 images in [-1, 1].
        """
        x = self.check_inputs(images)
        count = len(x)
        direction = check_direction(direction)
        given = sum(v is not None for v in (n, attributes, reference))
        if given > 1:
            raise ValueError("drit: give at most one of n, attributes and reference")
        if reference is not None:
            target = "B" if direction == "AtoB" else "A"
            codes = self.attributes(reference, target)
            if len(codes) not in (1, count):
                raise ValueError(f"drit: give one reference image or {count} (one per input), "
                                 f"got {len(codes)}")
            attributes = codes
        if attributes is not None:
            codes = np.asarray(attributes, dtype="float32")
            if codes.ndim == 1:
                codes = codes[None]
            if codes.ndim != 2 or codes.shape[1] != self.attribute_dim \
                    or len(codes) not in (1, count) or not np.all(np.isfinite(codes)):
                raise ValueError(f"drit: attributes must be finite, of shape "
                                 f"({self.attribute_dim},) or ({count}, {self.attribute_dim}), "
                                 f"got {codes.shape}")
            codes = np.broadcast_to(codes, (count, self.attribute_dim)).copy()
            return self._predict(self.sampling_generator_for(direction), [x, codes],
                                 int(batch_size))
        k = 1 if n is None else check_int(n, "n")
        rng = np.random.default_rng(check_seed(seed))
        codes = rng.standard_normal((count * k, self.attribute_dim)).astype("float32")
        out = self._predict(self.sampling_generator_for(direction),
                            [np.repeat(x, k, axis=0), codes], int(batch_size))
        return out if n is None else out.reshape((count, k, *out.shape[1:]))

    def interpolate(self, images, start, end, steps=5, direction="AtoB", batch_size=16):
        """Translations of ``images`` with attributes on the line from
        ``start`` to ``end`` (two codes ``(attribute_dim,)``, e.g. from
        :meth:`attributes`): ``(N, steps, H, W, C)``."""
        x = self.check_inputs(images)
        steps = check_int(steps, "steps")
        start, end = (np.asarray(v, dtype="float32").reshape(-1) for v in (start, end))
        if start.shape != (self.attribute_dim,) or end.shape != (self.attribute_dim,):
            raise ValueError(f"drit: start and end must be attribute codes of size "
                             f"{self.attribute_dim}")
        t = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None]
        codes = np.tile((1 - t) * start + t * end, (len(x), 1))
        out = self._predict(self.sampling_generator_for(direction),
                            [np.repeat(x, steps, axis=0), codes], int(batch_size))
        return out.reshape((len(x), steps, *out.shape[1:]))

    def attribute_grid(self, inputs, n=4, seed=0, direction="AtoB", batch_size=16):
        """Rows of input / ``n`` translations with random attributes (the
        same ``n`` attributes in every row): ``((1 + n) * N, H, W, C)`` images
        and the row length ``1 + n``."""
        x = self.check_inputs(inputs)
        rng = np.random.default_rng(check_seed(seed))
        codes = rng.standard_normal((int(n), self.attribute_dim)).astype("float32")
        out = self._predict(self.sampling_generator_for(direction),
                            [np.repeat(x, n, axis=0), np.tile(codes, (len(x), 1))],
                            int(batch_size)).reshape((len(x), n, *x.shape[1:]))
        rows = np.concatenate([_as_channels(x, out.shape[-1])[:, None], out], axis=1)
        return rows.reshape((-1, *x.shape[1:])), 1 + int(n)

    def triplets(self, inputs, targets=None, batch_size=16):
        """:meth:`attribute_grid` with 4 attributes (and the target, when
        given, at the end of each row)."""
        grid, k = self.attribute_grid(inputs, 4, 0, batch_size=batch_size)
        if targets is None:
            return grid, k
        rows = grid.reshape((-1, k, *grid.shape[1:]))
        t = _as_channels(np.asarray(targets, dtype="float32"), grid.shape[-1])[:, None]
        return np.concatenate([rows, t], axis=1).reshape((-1, *grid.shape[1:])), k + 1

    def call(self, inputs, training=False):
        """Images of domain A give translations with the mean attribute (0);
        an ``(a, b)`` batch gives both directions'."""
        if isinstance(inputs, dict):
            inputs = (inputs["inputs"], inputs["targets"])

        def run(translator, x):
            zero = keras.ops.zeros((keras.ops.shape(x)[0], self.attribute_dim), "float32")
            return translator([x, zero], training=training)

        if isinstance(inputs, (tuple, list)):
            if len(inputs) == 1:
                return run(self.generator, inputs[0])
            return run(self.generator, inputs[0]), run(self.translator_ba, inputs[1])
        return run(self.generator, inputs)

    # ------------------------------------------------------------------ step
    def _encode_content(self, encoder, x, noise):
        content = self.content_shared(encoder(x, training=True), training=True)
        return content + tf.cast(noise, content.dtype)

    def _encode_attribute(self, encoder, x, eps):
        mu, logvar = self._float32(encoder(x, training=True))
        return mu, logvar, mu + eps * tf.exp(0.5 * logvar)

    def _render(self, generator, content, z):
        return self._float32(generator([self.generator_shared(content, training=True), z],
                                       training=True))

    def _stopped_mean(self, encoder, x):
        """The attribute mean of ``x`` with the encoder's weights held fixed
        (gradients reach ``x``, not the encoder)."""
        trainable = [tf.stop_gradient(v.value) for v in encoder.trainable_variables]
        outputs, _ = encoder.stateless_call(trainable, [v.value for v in
                                                        encoder.non_trainable_variables],
                                            x, training=True)
        return self._float32(outputs[0])

    def train_step(self, data):
        a, b = self._unpack_pair(data)
        local = tf_step.batch_size(a)
        offset, global_batch = tf_step.batch_layout(local)
        nz, seed = self.attribute_dim, self.seed_generator
        # every draw for the global batch, this replica's rows taken
        shape_c = (global_batch, *self.content_shape)
        draws = {
            "noise": [keras.random.normal(shape_c, seed=seed) for _ in range(4)],
            "eps": [keras.random.normal((global_batch, nz), seed=seed) for _ in range(4)],
            "z": [keras.random.normal((global_batch, nz), seed=seed) for _ in range(2)],
        }
        draws = tf_step.local_slice(draws, offset, local)
        noise, eps, (z1, z2) = draws["noise"], draws["eps"], draws["z"]
        w = self.loss_weights_
        d_a, d_b, d_c = self.discriminator_a, self.discriminator, self.content_discriminator
        f32 = self._float32

        def g_loss(_):
            c_a = self._encode_content(self.content_encoder_a, a, noise[0])
            c_b = self._encode_content(self.content_encoder_b, b, noise[1])
            mu_a, logvar_a, z_a = self._encode_attribute(self.attribute_encoder_a, a, eps[0])
            mu_b, logvar_b, z_b = self._encode_attribute(self.attribute_encoder_b, b, eps[1])
            # first translation: the other domain's content with this one's attribute
            fake_a = self._render(self.generator_a, c_b, z_a)
            fake_b = self._render(self.generator_b, c_a, z_b)
            self_a = self._render(self.generator_a, c_a, z_a)
            self_b = self._render(self.generator_b, c_b, z_b)
            random_a1 = self._render(self.generator_a, c_b, z1)
            random_a2 = self._render(self.generator_a, c_b, z2)
            random_b1 = self._render(self.generator_b, c_a, z1)
            random_b2 = self._render(self.generator_b, c_a, z2)
            # second translation (cross cycle): re-encode and swap back
            c_b_again = self._encode_content(self.content_encoder_a, fake_a, noise[2])
            c_a_again = self._encode_content(self.content_encoder_b, fake_b, noise[3])
            _, _, z_a_again = self._encode_attribute(self.attribute_encoder_a, fake_a, eps[2])
            _, _, z_b_again = self._encode_attribute(self.attribute_encoder_b, fake_b, eps[3])
            cycle_a = self._render(self.generator_a, c_a_again, z_a_again)
            cycle_b = self._render(self.generator_b, c_b_again, z_b_again)

            gan = tf_step.add_n([_bce_per_example(self.judge(d, x), 1.0)
                                 for d, x in ((d_a, fake_a), (d_b, fake_b), (d_a, random_a1),
                                              (d_a, random_a2), (d_b, random_b1),
                                              (d_b, random_b2))])
            content_gan = (_bce_per_example(f32(d_c(c_a, training=True)), 0.5)
                           + _bce_per_example(f32(d_c(c_b, training=True)), 0.5))
            cycle = _l1(cycle_a, a) + _l1(cycle_b, b)
            reconstruction = _l1(self_a, a) + _l1(self_b, b)
            kl = kl_per_example(mu_a, logvar_a) + kl_per_example(mu_b, logvar_b)
            content_l2 = sum(tf.reduce_mean(tf.reshape(tf.square(tf.cast(c, tf.float32)),
                                                       [tf.shape(c)[0], -1]), axis=1)
                             for c in (c_a, c_b))
            latent = (_l1(self._stopped_mean(self.attribute_encoder_a, random_a1), z1)
                      + _l1(self._stopped_mean(self.attribute_encoder_b, random_b1), z1))
            mode_seeking = (mode_seeking_per_example(random_a1, random_a2, z1, z2)
                            + mode_seeking_per_example(random_b1, random_b2, z1, z2))
            total = (gan + w["content_weight"] * content_gan + w["cycle_weight"] * cycle
                     + w["reconstruction_weight"] * reconstruction + w["kl_weight"] * kl
                     + w["content_l2_weight"] * content_l2 + w["latent_weight"] * latent
                     + w["mode_seeking_weight"] * mode_seeking)
            fakes = [tf.stop_gradient(x) for x in (fake_a, random_a1, random_a2, fake_b,
                                                   random_b1, random_b2)]
            contents = [tf.stop_gradient(c) for c in (c_a, c_b)]
            logged = (total, gan, content_gan, cycle, reconstruction, kl, latent, mode_seeking)
            return total, (logged, fakes, contents)

        logged, fakes, (c_a, c_b) = self.minimize("g", g_loss, global_batch, ema=True)

        def d_loss(_):
            # the domain discriminators judge images (augmented with ``augment``);
            # the content discriminator judges codes (never augmented)
            logits_a, logits_b = self.judge(d_a, a), self.judge(d_b, b)
            real_a = _bce_per_example(logits_a, 1.0)
            real_b = _bce_per_example(logits_b, 1.0)
            loss = 3.0 * (real_a + real_b)
            for i, fake in enumerate(fakes):
                d = d_a if i < 3 else d_b
                loss = loss + _bce_per_example(self.judge(d, fake), 0.0)
            content = (_bce_per_example(f32(d_c(c_a, training=True)), 0.0)
                       + _bce_per_example(f32(d_c(c_b, training=True)), 1.0))
            total = loss + w["content_weight"] * content
            return total, (total, content, logits_a, logits_b)

        d_total, d_content, logits_a, logits_b = self.minimize("d", d_loss, global_batch)
        self.observe_real_logits(logits_a)
        self.observe_real_logits(logits_b)
        total, gan, content_gan, cycle, reconstruction, kl, latent, mode_seeking = logged
        self.g_loss_tracker.update_state(total)
        self.d_loss_tracker.update_state(d_total)
        for name, value in (("g_gan", gan), ("content_gan", content_gan), ("cycle", cycle),
                            ("reconstruction", reconstruction), ("kl", kl),
                            ("latent", latent), ("mode_seeking", mode_seeking),
                            ("d_content", d_content)):
            self.extra_trackers[name].update_state(value)
        self.adjust_augmentation(global_batch)
        return self._step_logs()


__all__ = ["DRIT", "Modulate", "TileAttribute", "build_content_encoder", "build_attribute_encoder", "build_generator",
           "build_domain_discriminator", "build_content_discriminator", "kl_per_example",
           "mode_seeking_per_example"]
