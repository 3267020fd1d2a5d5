"""CycleGAN (Zhu et al. 2017): two ResNet generators, two PatchGANs, LSGAN,
cycle-consistency and identity losses, a history pool of generated images."""

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from kerasgan import precision
from kerasgan.core import tf_step
from kerasgan.layers import ImagePool, ReflectionPadding2D
from kerasgan.models import register
from kerasgan.spec import FamilySpec, Option, IMAGE_TO_IMAGE
from kerasgan.models.image_conditioned import ImageConditionedGAN, _as_channels, validate_shape
from kerasgan.models.pix2pix import build_patch_discriminator
from kerasgan.sampling import infer_input_specs
from kerasgan.utils import DIRECTIONS, check_direction  # noqa: F401  (the one direction check)


def _init():
    # the reference code's init_type "normal": N(0, 0.02)
    return keras.initializers.RandomNormal(0.0, 0.02)


def _instance_norm(name):
    # the reference's InstanceNorm2d(affine=False): per image and channel, no
    # scale or offset; the same in training and inference
    return layers.GroupNormalization(groups=-1, epsilon=1e-5, center=False, scale=False,
                                     name=name)


def default_blocks(image_shape):
    """Residual blocks of the generator for an image size: 9 at 256 and above,
    6 below (the paper's ``resnet_9blocks`` / ``resnet_6blocks``)."""
    return 9 if min(image_shape[:2]) >= 256 else 6


def _residual_block(x, channels, name):
    y = ReflectionPadding2D(1, name=f"{name}_pad1")(x)
    y = layers.Conv2D(channels, 3, use_bias=False, kernel_initializer=_init(),
                      name=f"{name}_conv1")(y)
    y = _instance_norm(f"{name}_norm1")(y)
    y = layers.ReLU(name=f"{name}_relu")(y)
    y = ReflectionPadding2D(1, name=f"{name}_pad2")(y)
    y = layers.Conv2D(channels, 3, use_bias=False, kernel_initializer=_init(),
                      name=f"{name}_conv2")(y)
    y = _instance_norm(f"{name}_norm2")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def build_resnet_generator(input_channels=3, output_channels=3, width=64, n_blocks=9,
                           n_downsampling=2, image_size=None, name="generator"):
    """CycleGAN's ResNet generator (Johnson et al. 2016):
    ``c7s1-64, d128, d256, R256 x n_blocks, u128, u64, c7s1-3`` for width 64.

    ``c7s1-k``: reflection pad 3, 7x7 conv, instance norm, ReLU; ``dk``: 3x3
    stride-2 conv ("same" padding), instance norm, ReLU; ``Rk``: residual block
    of two reflection-padded 3x3 convs with instance norm (ReLU between);
    ``uk``: 3x3 stride-2 transposed conv, instance norm, ReLU; the output
    ``c7s1`` has no norm and ends in tanh. Instance norm has no scale or
    offset (the reference's ``affine=False``). A conv followed by instance
    norm has no bias: the norm subtracts it exactly (the reference keeps those
    5,248 biases at 64 channels; their gradient is zero up to rounding, which
    Adam would amplify into noise), so the network is the reference's
    function with 11,372,931 instead of 11,378,179 parameters.

    Args:
        input_channels: channels of the input images.
        output_channels: channels of the output images.
        width: channels of the first layer (64).
        n_blocks: residual blocks (9 at 256x256, 6 at 128x128 in the paper).
        n_downsampling: stride-2 convolutions (2): heights and widths must be
            multiples of ``2**n_downsampling``, and at least twice that (the
            residual blocks reflect-pad their input by 1 pixel).
        image_size: ``(H, W)`` for a fixed-size network; None: dynamic.
        name: model name.

    Returns:
        A ``keras.Model`` from ``inputs`` ``(H, W, input_channels)`` to images
        ``(H, W, output_channels)`` in [-1, 1].
    """
    n_blocks, n_downsampling, width = int(n_blocks), int(n_downsampling), int(width)
    if n_blocks < 0 or n_downsampling < 0 or width < 1:
        raise ValueError(f"n_blocks and n_downsampling must be >= 0 and width >= 1, got "
                         f"{n_blocks}, {n_downsampling}, {width}")
    size = (None, None) if image_size is None else tuple(int(d) for d in image_size)
    inputs = keras.Input((*size, int(input_channels)), name="inputs")
    x = ReflectionPadding2D(3, name="in_pad")(inputs)
    x = layers.Conv2D(width, 7, use_bias=False, kernel_initializer=_init(), name="in_conv")(x)
    x = layers.ReLU(name="in_relu")(_instance_norm("in_norm")(x))
    for i in range(n_downsampling):
        x = layers.Conv2D(width * 2 ** (i + 1), 3, strides=2, padding="same", use_bias=False,
                          kernel_initializer=_init(), name=f"down{i}")(x)
        x = layers.ReLU(name=f"down{i}_relu")(_instance_norm(f"down{i}_norm")(x))
    channels = width * 2**n_downsampling
    for b in range(n_blocks):
        x = _residual_block(x, channels, f"res{b}")
    for i in reversed(range(n_downsampling)):
        x = layers.Conv2DTranspose(width * 2**i, 3, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=_init(), name=f"up{i}")(x)
        x = layers.ReLU(name=f"up{i}_relu")(_instance_norm(f"up{i}_norm")(x))
    x = ReflectionPadding2D(3, name="out_pad")(x)
    x = layers.Conv2D(int(output_channels), 7, kernel_initializer=_init(), name="to_image")(x)
    images = layers.Activation("tanh", dtype="float32", name="translated")(x)
    return keras.Model(inputs, images, name=name)


# ------------------------------------------------------------------- losses
def _mean_per_example(x):
    x = tf.cast(x, tf.float32)
    return tf.reduce_mean(tf.reshape(x, (tf.shape(x)[0], -1)), axis=1)


def lsgan_generator_loss(fake_logits):
    """The paper's generator GAN loss, per example: ``mean (D(G(x)) - 1)^2``
    over the patch map (``MSELoss`` against 1; twice
    :func:`kerasgan.losses.least_squares_generator_loss`)."""
    return _mean_per_example(tf.square(tf.cast(fake_logits, tf.float32) - 1.0))


def lsgan_discriminator_loss(real_logits, fake_logits):
    """The paper's halved discriminator loss, per example:
    ``0.5 * [mean (D(y) - 1)^2 + mean D(G(x))^2]`` (equal to
    :func:`kerasgan.losses.least_squares_discriminator_loss`)."""
    return 0.5 * (_mean_per_example(tf.square(tf.cast(real_logits, tf.float32) - 1.0))
                  + _mean_per_example(tf.square(tf.cast(fake_logits, tf.float32))))


def l1_per_example(x, y):
    """``mean |x - y|`` per example."""
    return _mean_per_example(tf.abs(tf.cast(x, tf.float32) - tf.cast(y, tf.float32)))


def generator_loss(fake_logits_b, fake_logits_a, a, reconstructed_a, b, reconstructed_b,
                   identity_a=None, identity_b=None, cycle_weight=10.0, identity_weight=5.0,
                   loss_fn=None):
    """CycleGAN's per-example generator loss (both generators together)::

        GAN(D_B(G_AB(a))) + GAN(D_A(G_BA(b)))
        + cycle_weight * (|G_BA(G_AB(a)) - a|_1 + |G_AB(G_BA(b)) - b|_1)
        + identity_weight * (|G_BA(a) - a|_1 + |G_AB(b) - b|_1)

    (``|.|_1``: mean absolute difference; ``GAN``: ``loss_fn``, default
    :func:`lsgan_generator_loss`; the identity term is left out when
    ``identity_a``/``identity_b`` are None). The reference code's
    ``lambda_identity=0.5`` is ``identity_weight = 0.5 * cycle_weight``.

    Returns:
        ``(total, adversarial, cycle, identity)``, each ``(batch,)`` float32.
    """
    loss_fn = loss_fn or lsgan_generator_loss
    adversarial = loss_fn(fake_logits_b) + loss_fn(fake_logits_a)
    cycle = l1_per_example(reconstructed_a, a) + l1_per_example(reconstructed_b, b)
    total = adversarial + float(cycle_weight) * cycle
    if identity_a is not None and identity_b is not None:
        identity = l1_per_example(identity_a, a) + l1_per_example(identity_b, b)
        total = total + float(identity_weight) * identity
    else:
        identity = tf.zeros_like(cycle)
    return total, adversarial, cycle, identity


@register("cyclegan")
@keras.saving.register_keras_serializable(package="kerasgan")
class CycleGAN(ImageConditionedGAN):
    """CycleGAN: unpaired image-to-image translation between domains A and B.

    Networks: ``generator`` (``G_AB``: A → B, the default one that
    ``translate``, ``generate`` and export use), ``generator_ba`` (``G_BA``:
    B → A), ``discriminator`` (``D_B``: real B vs ``G_AB(a)``) and
    ``discriminator_a`` (``D_A``). ResNet generators
    (:func:`build_resnet_generator`), 70x70 PatchGANs with instance norm
    (:func:`kerasgan.models.pix2pix.build_patch_discriminator`).

    One step on an ``(a, b)`` batch of unrelated images, in the reference
    code's order:

    1. generators (one optimizer over ``G_AB`` and ``G_BA``), LSGAN with
       cycle and identity terms (:func:`generator_loss`): ``(D_B(G_AB(a)) -
       1)^2 + (D_A(G_BA(b)) - 1)^2 + cycle_weight * cycle + identity_weight *
       identity``, with ``cycle_weight`` 10 and ``identity_weight`` 5
       (``0.5 * cycle_weight``);
    2. discriminators (one optimizer over ``D_A`` and ``D_B``), on the real
       images and the fakes of step 1 passed through the history pools
       (:class:`kerasgan.layers.ImagePool`, 50 images each): ``0.5 *
       [(D(real) - 1)^2 + D(pooled fake)^2]`` each (halved).

    Per-example terms are averaged over the patch map or the pixels, summed
    over the replica's examples and divided by the global batch size; the pool
    decisions are drawn for the global batch from the model's seed generator,
    so N replicas make the update of one device. Adam(2e-4, beta_1=0.5)
    for both optimizers. (The paper's linear learning-rate decay over the last
    100 epochs is a schedule to pass to ``compile``.)

    Data: ``(a, b)`` batches (or dicts with ``inputs`` and ``targets``),
    float32 NHWC in [-1, 1], both of ``image_shape``, e.g.
    :meth:`kerasgan.data.UnpairedImageSource.dataset`. Both domains have the
    same channel count (the identity term feeds a B image to ``G_AB``).

    The generators are fully convolutional: they take heights and widths that
    are multiples of ``2**n_downsampling`` and at least twice that (the input
    spec's ``size_multiple`` and ``min_size``, checked by ``translate`` and
    the deployment kit).

    Args:
        image_shape: ``(H, W, C)`` of the images of both domains (training size).
        width: generator channels of the first layer (64).
        n_blocks: residual blocks (default 9 at 256 and above, 6 below).
        n_downsampling: generator down-samplings (2).
        d_width: discriminator channels of the first layer (64).
        d_layers: PatchGAN stride-2 layers (3: 70x70 patches).
        cycle_weight: ``lambda`` of the cycle-consistency terms (10).
        identity_weight: weight of the identity terms (default ``0.5 *
            cycle_weight``; 0 disables them).
        pool_size: images in each history pool (50; 0 disables the pools).
        **kwargs: :class:`kerasgan.core.ImageConditionedGAN` arguments
            (``ema_decay`` keeps an EMA of both generators, ``seed``, ``name``,
            ``dtype``).

    References:
        Zhu, Park, Isola and Efros, "Unpaired Image-to-Image Translation using
        Cycle-Consistent Adversarial Networks", ICCV 2017 (arXiv:1703.10593).

    Example:
        >>> src = kerasgan.data.open_unpaired("facades", resize=128)   # photos | label maps
        >>> gan = kerasgan.models.CycleGAN(image_shape=(128, 128, 3))
        >>> gan.compile()
        >>> gan.fit(src.dataset(1, jitter=True, flip=True, seed=0), epochs=5)
        >>> maps = gan.translate(photos)                      # A -> B
        >>> photos_again = gan.translate(maps, direction="BtoA")
    """

    spec = FamilySpec(
        kind=IMAGE_TO_IMAGE, batch="unpaired", directions=DIRECTIONS,
        summary="CycleGAN: unpaired translation, two generators (Zhu et al. 2017)",
        options=(Option("width", help="generator width (channels)", minimum=1),
                 Option("d_width", help="discriminator width (channels)", minimum=1),
                 Option("d_layers", help="PatchGAN stride-2 layers (3: 70x70 patches)",
                        minimum=1),
                 Option("n_blocks", int, help="residual blocks of the generators; default 9 "
                        "at 256 pixels, 6 below", minimum=1),
                 Option("pool_size", help="generated images in each history pool (0: none)",
                        minimum=0, metavar="N"),
                 Option("cycle_weight", help="cycle-consistency weight (lambda)", minimum=0.0)),
        recommended={"epochs": 20, "batch_size": 1, "jitter": True, "flip": True},
        references=("https://arxiv.org/abs/1703.10593",))

    # one down-sampling: a 4x4 bottleneck (at 2x2 the instance norms see 4
    # values, and round-off differences between XLA and eager grow too fast
    # to compare the two)
    tiny_config = {"image_shape": (8, 8, 1), "width": 4, "n_blocks": 1, "n_downsampling": 1,
                   "d_width": 4, "d_layers": 1, "pool_size": 4}
    default_loss = "least_squares"
    pair_names = ("domain A", "domain B")
    data_hint = "kerasgan.data.open_unpaired(...).dataset(...)"

    def __init__(self, image_shape=(256, 256, 3), width=64, n_blocks=None, n_downsampling=2,
                 d_width=64, d_layers=3, cycle_weight=10.0, identity_weight=None,
                 pool_size=50, **kwargs):
        self.image_shape = validate_shape(image_shape, "image_shape")
        height, width_px, channels = self.image_shape
        self.input_channels = channels
        self.input_shape_ = self.image_shape
        self.n_downsampling = int(n_downsampling)
        self.n_blocks = default_blocks(self.image_shape) if n_blocks is None else int(n_blocks)
        self.size_multiple = 2**self.n_downsampling
        self.min_size = 2 * self.size_multiple if self.n_blocks else max(4, self.size_multiple)
        if height % self.size_multiple or width_px % self.size_multiple \
                or min(height, width_px) < self.min_size:
            raise ValueError(
                f"a ResNet generator with {self.n_downsampling} down-samplings takes heights and "
                f"widths that are multiples of {self.size_multiple} and at least "
                f"{self.min_size}, got {height}x{width_px}: resize the data")
        self.cycle_weight = float(cycle_weight)
        self.identity_weight = (0.5 * self.cycle_weight if identity_weight is None
                                else float(identity_weight))
        if not (self.cycle_weight >= 0 and self.identity_weight >= 0):
            raise ValueError(f"cycle_weight and identity_weight must be >= 0, got "
                             f"{cycle_weight}, {identity_weight}")
        self.pool_size = int(pool_size)
        self.width, self.d_width, self.d_layers = int(width), int(d_width), int(d_layers)
        with precision.dtype_scope(kwargs.get("dtype")):
            g_ab = build_resnet_generator(channels, channels, self.width, self.n_blocks,
                                          self.n_downsampling, name="generator_ab")
            g_ba = build_resnet_generator(channels, channels, self.width, self.n_blocks,
                                          self.n_downsampling, name="generator_ba")
            d_b = build_patch_discriminator(self.image_shape, self.d_width, self.d_layers,
                                            "instance", name="discriminator_b")
            d_a = build_patch_discriminator(self.image_shape, self.d_width, self.d_layers,
                                            "instance", name="discriminator_a")
        super().__init__(g_ab, d_b, **kwargs)
        self.generator_ba = g_ba
        self.discriminator_a = d_a
        self.ema_generator_ba = self._ema_copy(g_ba, "ema_generator_ba")
        # history pools: fakes of domain A (for D_A) and of domain B (for D_B)
        self.pool_a = ImagePool(self.pool_size, self.image_shape, name="pool_a")
        self.pool_b = ImagePool(self.pool_size, self.image_shape, name="pool_b")

    def get_config(self):
        config = super().get_config()
        config.update(image_shape=list(self.image_shape), width=self.width,
                      n_blocks=self.n_blocks, n_downsampling=self.n_downsampling,
                      d_width=self.d_width, d_layers=self.d_layers,
                      cycle_weight=self.cycle_weight, identity_weight=self.identity_weight,
                      pool_size=self.pool_size)
        return config

    # ----------------------------------------------------------- networks
    @property
    def generator_ab(self):
        """``G_AB`` (A → B): the same model as ``generator``."""
        return self.generator

    @property
    def discriminator_b(self):
        """``D_B`` (judges domain B): the same model as ``discriminator``."""
        return self.discriminator

    def generator_trainable_variables(self):
        return self.generator.trainable_variables + self.generator_ba.trainable_variables

    def discriminator_trainable_variables(self):
        return (self.discriminator.trainable_variables
                + self.discriminator_a.trainable_variables)

    def default_optimizers(self):
        return (keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999),
                keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999))

    def compile(self, g_optimizer=None, d_optimizer=None, g_loss=None, d_loss=None, **kwargs):
        """:meth:`kerasgan.GAN.compile`; by default the paper's LSGAN losses
        (:func:`lsgan_generator_loss`, :func:`lsgan_discriminator_loss`). A
        ``g_loss``/``d_loss`` given by name or callable is used as it is for
        each generator and discriminator."""
        super().compile(g_optimizer, d_optimizer, g_loss=g_loss, d_loss=d_loss, **kwargs)
        if g_loss is None:
            self.g_loss_fn = lsgan_generator_loss
        if d_loss is None:
            self.d_loss_fn = lsgan_discriminator_loss

    def penalty_names(self):
        return ["g_gan", "cycle", "identity", "d_a", "d_b"]

    def ema_pairs(self):
        return [*super().ema_pairs(), (self.ema_generator_ba, self.generator_ba)]

    # ------------------------------------------------------------ directions
    check_direction = staticmethod(check_direction)

    def sampling_generator_for(self, direction="AtoB"):
        """The generator of ``direction`` that inference uses (its EMA copy
        when enabled): ``"AtoB"`` is ``sampling_generator``."""
        if check_direction(direction) == "AtoB":
            return self.sampling_generator
        return self.ema_generator_ba if self.ema_generator_ba is not None else self.generator_ba

    def generator_inputs(self, direction="AtoB"):
        generator = self.generator if check_direction(direction) == "AtoB" else self.generator_ba
        return infer_input_specs(generator, image_shape=self.input_shape_,
                                 size_multiple=self.size_multiple, min_size=self.min_size)

    def translate(self, images, batch_size=16, direction="AtoB"):
        """Translates images with ``G_AB`` (``direction="AtoB"``, default) or
        ``G_BA`` (``"BtoA"``), in inference mode; see
        :meth:`ImageConditionedGAN.translate`."""
        x = self.check_inputs(images)
        return self._predict(self.sampling_generator_for(direction), x, int(batch_size))

    def triplets(self, inputs, targets=None, batch_size=16):
        """Rows of input / ``G_AB(input)`` / ``G_BA(G_AB(input))`` (the
        reconstruction), and the target when ``targets`` is given (aligned
        data such as the facades halves): ``(k * N, H, W, C)`` images and the
        row length ``k`` (3 or 4)."""
        outputs = self.translate(inputs, batch_size)
        rows = [np.asarray(inputs, dtype="float32"), outputs,
                self.translate(outputs, batch_size, direction="BtoA")]
        if targets is not None:
            rows.append(_as_channels(np.asarray(targets, dtype="float32"), outputs.shape[-1]))
        grid = np.stack(rows, axis=1)
        return grid.reshape((-1, *outputs.shape[1:])), len(rows)

    def call(self, inputs, training=False):
        """Images of domain A give ``G_AB``'s translations; an ``(a, b)``
        batch gives ``(G_AB(a), G_BA(b))``."""
        if isinstance(inputs, dict):
            inputs = (inputs["inputs"], inputs["targets"])
        if isinstance(inputs, (tuple, list)):
            if len(inputs) == 1:
                return self.generator(inputs[0], training=training)
            return (self.generator(inputs[0], training=training),
                    self.generator_ba(inputs[1], training=training))
        return self.generator(inputs, training=training)

    # ------------------------------------------------------------------ step
    def train_step(self, data):
        a, b = self._unpack_pair(data)
        _, global_batch = tf_step.batch_layout(tf_step.batch_size(a))
        f32 = self._float32
        g_ab, g_ba = self.generator, self.generator_ba
        d_b, d_a = self.discriminator, self.discriminator_a

        def g_loss(_):  # both generators, one optimizer
            fake_b = f32(g_ab(a, training=True))
            reconstructed_a = f32(g_ba(fake_b, training=True))
            fake_a = f32(g_ba(b, training=True))
            reconstructed_b = f32(g_ab(fake_a, training=True))
            identity_a = identity_b = None
            if self.identity_weight > 0:
                identity_a = f32(g_ba(a, training=True))  # G_BA leaves A images alone
                identity_b = f32(g_ab(b, training=True))  # G_AB leaves B images alone
            g_per_example, g_gan, cycle, identity = generator_loss(
                self.judge(d_b, fake_b), self.judge(d_a, fake_a),
                a, reconstructed_a, b, reconstructed_b, identity_a, identity_b,
                self.cycle_weight, self.identity_weight, self.g_loss_fn)
            return g_per_example, (g_per_example, g_gan, cycle, identity, fake_a, fake_b)

        g_per_example, g_gan, cycle, identity, fake_a, fake_b = self.minimize(
            "g", g_loss, global_batch, ema=True)

        # the discriminators see the fakes of this step through the pools
        seen_b = self.pool_b(tf.stop_gradient(fake_b), seed_generator=self.seed_generator,
                             training=True)
        seen_a = self.pool_a(tf.stop_gradient(fake_a), seed_generator=self.seed_generator,
                             training=True)

        def d_loss(_):  # both discriminators, one optimizer
            real_b, real_a = self.judge(d_b, b), self.judge(d_a, a)
            loss_b = self.d_loss_fn(real_b, self.judge(d_b, seen_b))
            loss_a = self.d_loss_fn(real_a, self.judge(d_a, seen_a))
            d_per_example = loss_a + loss_b
            return d_per_example, (d_per_example, loss_a, loss_b, real_a, real_b)

        d_per_example, loss_a, loss_b, real_a, real_b = self.minimize("d", d_loss, global_batch)
        self.observe_real_logits(real_a)
        self.observe_real_logits(real_b)

        self.g_loss_tracker.update_state(g_per_example)
        self.d_loss_tracker.update_state(d_per_example)
        for name, value in (("g_gan", g_gan), ("cycle", cycle), ("identity", identity),
                            ("d_a", loss_a), ("d_b", loss_b)):
            self.extra_trackers[name].update_state(value)
        self.adjust_augmentation(global_batch)
        return self._step_logs()


__all__ = ["CycleGAN", "build_resnet_generator", "generator_loss", "lsgan_generator_loss",
           "lsgan_discriminator_loss", "default_blocks"]
