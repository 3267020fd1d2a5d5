"""Pix2Pix (Isola et al. 2017): U-Net generator, PatchGAN discriminator, cGAN + L1."""

import math

import keras
import tensorflow as tf
from keras import layers

from kerasgan import losses as losses_lib
from kerasgan import precision
from kerasgan.core import tf_step
from kerasgan.layers import GlobalBatchDropout
from kerasgan.models import register
from kerasgan.spec import FamilySpec, Option, IMAGE_TO_IMAGE
from kerasgan.models.image_conditioned import ImageConditionedGAN, validate_shape

NORMALIZATIONS = ("batch", "instance")


def _init():
    # pix2pix (as DCGAN): weights from N(0, 0.02)
    return keras.initializers.RandomNormal(0.0, 0.02)


def _norm(kind, name):
    if kind == "batch":
        # synchronized: the global batch's statistics under MirroredStrategy
        return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, name=name)
    # instance norm: one group per channel; the same in training and inference
    return layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)


def default_depth(image_shape):
    """Down-samplings of the U-Net for an image size: down to 1x1 (8 for 256,
    7 for 128, 6 for 64), i.e. ``log2(min(H, W))``, rounded down."""
    return max(1, int(math.log2(min(image_shape[:2]))))


def encoder_channels(depth, width=64):
    """Channels of the U-Net's encoder blocks: ``width * min(2**i, 8)``: for
    depth 8 and width 64, C64-C128-C256-C512-C512-C512-C512-C512."""
    return [width * min(2**i, 8) for i in range(depth)]


def build_unet_generator(input_channels=3, output_channels=3, depth=8, width=64,
                         normalization="batch", dropout=0.5, dropout_blocks=3,
                         image_size=None, name="generator"):
    """The pix2pix U-Net: ``depth`` stride-2 4x4 convolutions down, as many
    transposed ones up, with a skip connection from each encoder block to its
    mirror decoder block.

    Encoder (``Ck``: conv-norm-LeakyReLU(0.2), the first without norm, the
    innermost without norm either, as in the official code):
    C64-C128-C256-C512-C512-C512-C512-C512 at depth 8. Decoder (ReLU, then
    transposed conv-norm, dropout 0.5 in the first ``dropout_blocks`` decoder
    blocks as in the paper's CD512-CD1024-CD1024; the output block is a
    transposed conv to ``output_channels`` and tanh), each block's output
    joined with its skip.

    Args:
        input_channels: channels of the input images.
        output_channels: channels of the output images.
        depth: number of down-samplings: height and width must be multiples of
            ``2**depth`` (8: 256x256 down to 1x1).
        width: channels of the first block (64 in the paper).
        normalization: ``"batch"`` (synchronised batch norm, the paper's) or
            ``"instance"``.
        dropout: rate of the decoder dropout (0 disables it).
        dropout_blocks: how many decoder blocks (from the innermost) drop out.
        image_size: ``(H, W)`` for a fixed-size network; None (default): the
            height and width are dynamic.
        name: model name.

    Returns:
        A ``keras.Model`` from ``inputs`` ``(H, W, input_channels)`` to
        images ``(H, W, output_channels)`` in [-1, 1].
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    depth = int(depth)
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    size = (None, None) if image_size is None else tuple(int(d) for d in image_size)
    inputs = keras.Input((*size, int(input_channels)), name="inputs")
    channels = encoder_channels(depth, int(width))
    x, skips = inputs, []
    for i, c in enumerate(channels):
        if i > 0:
            x = layers.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
        norm = 0 < i < depth - 1
        x = layers.Conv2D(c, 4, strides=2, padding="same", use_bias=not norm,
                          kernel_initializer=_init(), name=f"down{i}")(x)
        if norm:
            x = _norm(normalization, f"down{i}_norm")(x)
        skips.append(x)
    for j, i in enumerate(reversed(range(depth - 1))):
        # decoder block j mirrors encoder block i; its output joins skip i
        x = layers.ReLU(name=f"up{i}_relu")(x)
        x = layers.Conv2DTranspose(channels[i], 4, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=_init(), name=f"up{i}")(x)
        x = _norm(normalization, f"up{i}_norm")(x)
        if dropout and j < dropout_blocks:
            x = GlobalBatchDropout(dropout, name=f"up{i}_dropout")(x)
        x = layers.Concatenate(name=f"skip{i}")([x, skips[i]])
    x = layers.ReLU(name="out_relu")(x)
    x = layers.Conv2DTranspose(int(output_channels), 4, strides=2, padding="same",
                               kernel_initializer=_init(), name="to_image")(x)
    images = layers.Activation("tanh", dtype="float32", name="translated")(x)
    return keras.Model(inputs, images, name=name)


def patchgan_receptive_field(n_layers=3):
    """Receptive field in pixels of a :func:`build_patchgan_discriminator`
    output unit: 70 for ``n_layers=3`` (the 70x70 PatchGAN), 34 for 2, 16 for 1."""
    # (kernel, stride) from the input: n_layers stride-2 convolutions, then two stride-1
    convs = [(4, 2)] * n_layers + [(4, 1), (4, 1)]
    field = 1
    for kernel, stride in reversed(convs):
        field = (field - 1) * stride + kernel
    return field


def build_patchgan_discriminator(input_shape, target_channels, width=64, n_layers=3,
                                 normalization="batch", name="discriminator"):
    """The conditional PatchGAN: the input image and a (real or generated)
    output image, stacked on the channel axis, to a map of real/fake logits,
    one per overlapping patch.

    ``n_layers=3`` is the paper's 70x70 PatchGAN: C64 (no norm)-C128-C256 with
    stride 2, C512 with stride 1, then a stride-1 convolution to one channel;
    4x4 kernels, LeakyReLU(0.2). The stride-1 layers pad 1 pixel and convolve
    "valid" as the reference code does, so a 256x256 pair gives a 30x30 map.

    Args:
        input_shape: ``(H, W, C_in)`` of the input images.
        target_channels: channels of the output images.
        width: channels of the first layer.
        n_layers: stride-2 layers (3: 70x70 patches; 1: 16x16).
        normalization: ``"batch"`` or ``"instance"``.
        name: model name.

    Returns:
        A ``keras.Model`` from ``[inputs, images]`` to logits ``(h, w, 1)``.
    """
    height, width_px, c_in = validate_shape(input_shape, "input_shape")
    _check_patchgan_size(height, width_px, n_layers)
    inputs = keras.Input((height, width_px, c_in), name="inputs")
    images = keras.Input((height, width_px, int(target_channels)), name="images")
    x = layers.Concatenate(name="join")([inputs, images])
    logits = patchgan_logits(x, width, n_layers, normalization)
    return keras.Model([inputs, images], logits, name=name)


def _check_patchgan_size(height, width, n_layers):
    if min(height, width) // 2**n_layers < 3:
        raise ValueError(
            f"a {n_layers}-layer PatchGAN needs images of at least {3 * 2 ** n_layers} pixels, "
            f"got {height}x{width}: use fewer d_layers or larger images")


def patchgan_logits(x, width=64, n_layers=3, normalization="batch"):
    """The PatchGAN layers on a (functional) image tensor ``x``, to the logits
    map; shared by the conditional (:func:`build_patchgan_discriminator`) and
    the unconditional (:func:`build_patch_discriminator`) PatchGAN."""
    for i in range(n_layers):
        filters = int(width) * min(2**i, 8)
        x = layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=i == 0,
                          kernel_initializer=_init(), name=f"conv{i}")(x)
        if i > 0:
            x = _norm(normalization, f"conv{i}_norm")(x)
        x = layers.LeakyReLU(0.2, name=f"conv{i}_lrelu")(x)
    filters = int(width) * min(2**n_layers, 8)
    x = layers.ZeroPadding2D(1, name="pad")(x)
    x = layers.Conv2D(filters, 4, strides=1, padding="valid", use_bias=False,
                      kernel_initializer=_init(), name=f"conv{n_layers}")(x)
    x = _norm(normalization, f"conv{n_layers}_norm")(x)
    x = layers.LeakyReLU(0.2, name=f"conv{n_layers}_lrelu")(x)
    x = layers.ZeroPadding2D(1, name="pad_logits")(x)
    return layers.Conv2D(1, 4, strides=1, padding="valid", kernel_initializer=_init(),
                         dtype="float32", name="logits")(x)


def build_patch_discriminator(image_shape, width=64, n_layers=3, normalization="instance",
                              name="discriminator"):
    """The unconditional PatchGAN (CycleGAN's): one image to a map of
    real/fake logits, the layers of :func:`build_patchgan_discriminator`
    without the input image (``n_layers=3``: 70x70 patches, a 30x30 map at
    256x256).

    Returns:
        A ``keras.Model`` from ``images`` ``(H, W, C)`` to logits ``(h, w, 1)``.
    """
    height, width_px, channels = validate_shape(image_shape, "image_shape")
    _check_patchgan_size(height, width_px, n_layers)
    images = keras.Input((height, width_px, channels), name="images")
    return keras.Model(images, patchgan_logits(images, width, n_layers, normalization),
                       name=name)


def discriminator_loss(real_logits, fake_logits, loss_fn=None):
    """Pix2Pix's per-example discriminator loss: half the GAN loss,
    ``0.5 * [BCE(real, 1) + BCE(fake, 0)]`` for the default (non-saturating)
    pair, averaged over the patch map. ``loss_fn``: a discriminator loss of
    :mod:`kerasgan.losses` (default non-saturating)."""
    loss_fn = loss_fn or losses_lib.non_saturating_discriminator_loss
    return 0.5 * loss_fn(real_logits, fake_logits)


def generator_loss(fake_logits, targets, fake, l1_weight=100.0, loss_fn=None):
    """Pix2Pix's per-example generator loss ``BCE(D(x, G(x)), 1) + l1_weight *
    mean|y - G(x)|``.

    Returns:
        ``(total, adversarial, l1)``, each ``(batch,)`` float32.
    """
    loss_fn = loss_fn or losses_lib.non_saturating_generator_loss
    adversarial = loss_fn(fake_logits)
    l1 = tf.reduce_mean(tf.abs(tf.cast(targets, tf.float32) - tf.cast(fake, tf.float32)),
                        axis=[1, 2, 3])
    return adversarial + float(l1_weight) * l1, adversarial, l1


@register("pix2pix")
@keras.saving.register_keras_serializable(package="kerasgan")
class Pix2Pix(ImageConditionedGAN):
    """Pix2Pix: paired image-to-image translation with a conditional GAN.

    A U-Net generator ``G(x)`` and a conditional 70x70 PatchGAN ``D(x, y)``,
    trained on ``(inputs, targets)`` batches with

    - ``D``: ``0.5 * [BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)]`` (halved, as in the
      paper, to slow D down relative to G);
    - ``G``: ``BCE(D(x, G(x)), 1) + l1_weight * mean|y - G(x)|`` (non-saturating,
      ``l1_weight`` = 100);

    each averaged over the patch map and the pixels per example, summed over the
    replica's examples and divided by the global batch size. Adam(2e-4,
    beta_1=0.5, beta_2=0.999) for both.

    One step, as the reference code: ``G(x)`` once, a discriminator update on
    it, then the generator update through the *updated* discriminator. The
    noise of the generator is its dropout (:class:`kerasgan.layers.GlobalBatchDropout`,
    mask drawn for the global batch, so a mirrored run equals one device).
    Inference (``translate``, export) runs without dropout and with the batch
    norm running statistics (the paper keeps dropout and batch statistics at
    test time; here inference is deterministic so that exports match Keras
    exactly); ``normalization="instance"`` behaves the same in training and
    inference.

    The generator is fully convolutional: it takes any height and width that
    are multiples of ``2**depth`` (checked by ``translate`` and the exports);
    ``image_shape`` is the training size the discriminator is built for.

    Args:
        image_shape: ``(H, W, C)`` of the output (target) images, the training size.
        input_channels: channels of the input images (default: as the output).
        width: generator channels of the first block (64).
        depth: U-Net down-samplings; default down to 1x1 (8 for 256).
        d_width: discriminator channels of the first layer (64).
        d_layers: PatchGAN stride-2 layers (3: 70x70 patches).
        l1_weight: weight of the L1 term (100).
        normalization: ``"batch"`` (the paper's) or ``"instance"``.
        dropout: decoder dropout rate (0.5).
        **kwargs: :class:`kerasgan.core.ImageConditionedGAN` arguments
            (``ema_decay``, ``seed``, ``name``, ``dtype``).

    References:
        Isola, Zhu, Zhou and Efros, "Image-to-Image Translation with
        Conditional Adversarial Networks", CVPR 2017 (arXiv:1611.07004).

    Example:
        >>> src = kerasgan.data.open_paired("facades", direction="BtoA", resize=128)
        >>> gan = kerasgan.models.Pix2Pix(image_shape=(128, 128, 3))
        >>> gan.compile()
        >>> gan.fit(src.dataset(4, jitter=True, flip=True, seed=0), epochs=5)
        >>> photos = gan.translate(label_maps)        # float32 NHWC in [-1, 1]
    """

    spec = FamilySpec(
        kind=IMAGE_TO_IMAGE, batch="pairs",
        summary="Pix2Pix: paired translation, U-Net + PatchGAN (Isola et al. 2017)",
        options=(Option("width", help="generator width (channels)", minimum=1),
                 Option("d_width", help="discriminator width (channels)", minimum=1),
                 Option("d_layers", help="PatchGAN stride-2 layers (3: 70x70 patches)",
                        minimum=1),
                 Option("l1_weight", help="weight of the L1 term", minimum=0.0)),
        recommended={"epochs": 20, "batch_size": 4, "direction": "BtoA", "jitter": True,
                     "flip": True},
        references=("https://arxiv.org/abs/1611.07004",))

    tiny_config = {"image_shape": (8, 8, 1), "width": 4, "d_width": 4, "d_layers": 1}
    default_loss = "non_saturating"

    def __init__(self, image_shape=(256, 256, 3), input_channels=None, width=64, depth=None,
                 d_width=64, d_layers=3, l1_weight=100.0, normalization="batch", dropout=0.5,
                 **kwargs):
        self.image_shape = validate_shape(image_shape, "image_shape")
        height, width_px, channels = self.image_shape
        self.input_channels = int(channels if input_channels is None else input_channels)
        self.input_shape_ = validate_shape((height, width_px, self.input_channels),
                                           "input image shape")
        self.depth = default_depth(self.image_shape) if depth is None else int(depth)
        self.size_multiple = 2**self.depth
        if height % self.size_multiple or width_px % self.size_multiple:
            raise ValueError(
                f"a depth-{self.depth} U-Net takes heights and widths that are multiples of "
                f"{self.size_multiple}, got {height}x{width_px}: resize the data (e.g. "
                f"{max(self.size_multiple, height // self.size_multiple * self.size_multiple)}) "
                "or pass a smaller depth")
        if not float(l1_weight) >= 0:
            raise ValueError(f"l1_weight must be >= 0, got {l1_weight}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, "
                             f"got {normalization!r}")
        self.width, self.d_width, self.d_layers = int(width), int(d_width), int(d_layers)
        self.l1_weight = float(l1_weight)
        self.normalization = normalization
        self.dropout = float(dropout)
        with precision.dtype_scope(kwargs.get("dtype")):
            generator = build_unet_generator(self.input_channels, channels, self.depth,
                                             self.width, normalization, self.dropout)
            discriminator = build_patchgan_discriminator(
                self.input_shape_, channels, self.d_width, self.d_layers, normalization)
        super().__init__(generator, discriminator, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(image_shape=list(self.image_shape), input_channels=self.input_channels,
                      width=self.width, depth=self.depth, d_width=self.d_width,
                      d_layers=self.d_layers, l1_weight=self.l1_weight,
                      normalization=self.normalization, dropout=self.dropout)
        return config

    def default_optimizers(self):
        return (keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999),
                keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999))

    def penalty_names(self):
        return ["g_gan", "l1"]

    def train_step(self, data):
        inputs, targets = self._unpack_pair(data)
        _, global_batch = tf_step.batch_layout(tf_step.batch_size(inputs))
        f32 = self._float32

        def d_loss(_, fake):
            real_logits = self.judge(self.discriminator, targets, inputs)
            fake_logits = self.judge(self.discriminator, tf.stop_gradient(fake), inputs)
            per_example = discriminator_loss(real_logits, fake_logits, self.d_loss_fn)
            return per_example, (per_example, real_logits)

        def g_loss(recording):
            fake = f32(self.generator(inputs, training=True))
            with recording.paused():  # D's update on G(x), outside G's tape
                d_per_example, real_logits = self.minimize(
                    "d", lambda r: d_loss(r, fake), global_batch)
                self.observe_real_logits(real_logits)
            # the generator's adversarial term goes through the updated discriminator
            fake_logits_g = self.judge(self.discriminator, fake, inputs)
            per_example, g_gan, l1 = generator_loss(fake_logits_g, targets, fake,
                                                    self.l1_weight, self.g_loss_fn)
            return per_example, (per_example, d_per_example, g_gan, l1)

        g_per_example, d_per_example, g_gan, l1 = self.minimize("g", g_loss, global_batch,
                                                                ema=True)

        self.d_loss_tracker.update_state(d_per_example)
        self.g_loss_tracker.update_state(g_per_example)
        self.extra_trackers["g_gan"].update_state(g_gan)
        self.extra_trackers["l1"].update_state(l1)
        self.adjust_augmentation(global_batch)
        return self._step_logs()
