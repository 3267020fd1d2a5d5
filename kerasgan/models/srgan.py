"""SRGAN (Ledig et al. 2017): SRResNet generator with sub-pixel up-sampling,
a VGG-style discriminator, content loss + 1e-3 adversarial loss, and a
pluggable content network (VGG19 "VGG54" features, or pixel MSE offline)."""

import math
import os

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from kerasgan import losses as losses_lib
from kerasgan import precision
from kerasgan.core import tf_step
from kerasgan.layers import SubPixelUpsampling
from kerasgan.models import register
from kerasgan.spec import FamilySpec, Option, IMAGE_TO_IMAGE
from kerasgan.models.image_conditioned import ImageConditionedGAN, _as_channels, validate_shape
from kerasgan.utils import check_int

#: content networks: ``"pixel"`` (MSE in pixel space: SRResNet-MSE / SRGAN-MSE)
#: and ``"vgg19"`` (MSE of VGG19 features, the paper's SRGAN-VGG54).
CONTENT_NETWORKS = ("pixel", "vgg19")
#: the file ``keras.applications.VGG19(include_top=False, weights="imagenet")``
#: downloads into Keras' cache (``$KERAS_HOME/models`` or ``~/.keras/models``).
VGG19_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
#: the paper's feature layer: the 4th convolution (after its ReLU) before the
#: 5th max-pooling ("VGG54").
DEFAULT_CONTENT_LAYER = "block5_conv4"
#: the paper rescales the VGG feature maps by 1/12.75 ("a factor of 1/12.75 to
#: obtain VGG losses of a scale comparable to the MSE loss").
DEFAULT_CONTENT_SCALE = 1.0 / 12.75
#: Caffe VGG preprocessing: BGR channel means on 0..255 pixels.
_VGG_MEAN_BGR = (103.939, 116.779, 123.68)


# ------------------------------------------------------------------ networks
def _bn(name):
    # synchronized: the global batch's statistics under MirroredStrategy
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, name=name)


def _prelu(name):
    # one slope per channel, shared over height and width (so the network takes
    # any size); 0.25 at start, as torch.nn.PReLU
    return layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25),
                        shared_axes=[1, 2], name=name)


def check_scale(scale):
    """The up-sampling factor: a power of two >= 2 (one sub-pixel ×2 block each).

    Raises:
        ValueError: anything else.
    """
    expected = "a power of two >= 2 (2, 4, 8)"
    value = check_int(scale, "scale", 2, expected=expected)
    if value & (value - 1):
        raise ValueError(f"scale must be {expected}, got {scale!r}")
    return value


def build_srresnet_generator(input_channels=3, output_channels=3, scale=4, width=64,
                             n_blocks=16, name="generator"):
    """SRResNet, the generator of SRGAN (the paper's figure 4).

    ``k9n64`` conv + PReLU; ``n_blocks`` residual blocks (``k3n64`` conv - BN
    - PReLU - ``k3n64`` conv - BN, plus the block's input); ``k3n64`` conv -
    BN plus the output of the first PReLU (the long skip); ``log2(scale)``
    sub-pixel blocks (``k3n256`` conv, :class:`kerasgan.layers.SubPixelUpsampling`
    ×2, PReLU); a ``k9`` conv to ``output_channels`` and tanh. All stride 1,
    "same" padding: fully convolutional, any input height and width, output
    ``scale`` times larger.

    tanh (the paper's figure shows none): the data are in [-1, 1] as for every
    kerasgan family, and tanh keeps the output inside the value range the
    exports declare; the long skip still makes the body learn a residual.

    Args:
        input_channels: channels of the low-res input.
        output_channels: channels of the high-res output.
        scale: up-sampling factor, a power of two (4).
        width: channels of the body (64); the sub-pixel convs have ``4 * width``.
        n_blocks: residual blocks (16, the paper's B).
        name: model name.

    Returns:
        A ``keras.Model`` from ``inputs`` ``(h, w, input_channels)`` to images
        ``(scale * h, scale * w, output_channels)`` in [-1, 1].
    """
    scale, width, n_blocks = check_scale(scale), int(width), int(n_blocks)
    if width < 1 or n_blocks < 0:
        raise ValueError(f"width must be >= 1 and n_blocks >= 0, got {width}, {n_blocks}")
    inputs = keras.Input((None, None, int(input_channels)), name="inputs")
    x = layers.Conv2D(width, 9, padding="same", name="in_conv")(inputs)
    head = x = _prelu("in_prelu")(x)
    for b in range(n_blocks):
        y = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"res{b}_conv1")(x)
        y = _prelu(f"res{b}_prelu")(_bn(f"res{b}_bn1")(y))
        y = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"res{b}_conv2")(y)
        y = _bn(f"res{b}_bn2")(y)
        x = layers.Add(name=f"res{b}_add")([x, y])
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, name="body_conv")(x)
    x = _bn("body_bn")(x)
    x = layers.Add(name="long_skip")([head, x])
    for i in range(int(math.log2(scale))):
        x = layers.Conv2D(4 * width, 3, padding="same", name=f"up{i}_conv")(x)
        x = SubPixelUpsampling(2, name=f"up{i}_shuffle")(x)
        x = _prelu(f"up{i}_prelu")(x)
    x = layers.Conv2D(int(output_channels), 9, padding="same", name="to_image")(x)
    images = layers.Activation("tanh", dtype="float32", name="upscaled")(x)
    return keras.Model(inputs, images, name=name)


def discriminator_channels(width=64):
    """Channels of the discriminator's 8 convolutions: ``width * [1, 1, 2, 2,
    4, 4, 8, 8]`` (n64 ... n512), strides ``[1, 2] * 4``."""
    return [int(width) * 2 ** (i // 2) for i in range(8)]


def build_srgan_discriminator(image_shape, width=64, dense=1024, name="discriminator"):
    """SRGAN's discriminator (the paper's figure 4): 8 ``k3`` convolutions
    (``n64s1``, ``n64s2``, ``n128s1``, ``n128s2``, ``n256s1``, ``n256s2``,
    ``n512s1``, ``n512s2`` for width 64), LeakyReLU(0.2), batch norm after
    every conv but the first; then dense(``dense``) - LeakyReLU(0.2) -
    dense(1): a logit (the paper's sigmoid is in the loss).

    The dense layer fixes the image size: ``image_shape`` (the high-res
    training size; 96x96 in the paper, a 6x6x512 map before it).

    Returns:
        A ``keras.Model`` from ``images`` ``(H, W, C)`` to logits ``(1,)``.
    """
    height, width_px, channels = validate_shape(image_shape, "image_shape")
    images = keras.Input((height, width_px, channels), name="images")
    x = images
    for i, filters in enumerate(discriminator_channels(width)):
        x = layers.Conv2D(filters, 3, strides=1 + i % 2, padding="same", use_bias=i == 0,
                          name=f"conv{i}")(x)
        if i:
            x = _bn(f"conv{i}_bn")(x)
        x = layers.LeakyReLU(0.2, name=f"conv{i}_lrelu")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(int(dense), name="dense")(x)
    x = layers.LeakyReLU(0.2, name="dense_lrelu")(x)
    logits = layers.Dense(1, dtype="float32", name="logits")(x)
    return keras.Model(images, logits, name=name)


# ------------------------------------------------------------- content loss
def find_vgg19_weights(path=None):
    """The VGG19 (no top) ImageNet weights file: ``path`` when given, else
    :data:`VGG19_WEIGHTS_FILE` in Keras' cache (``$KERAS_HOME/models``,
    ``~/.keras/models``, ``/tmp/.keras/models``). Never downloads.

    Raises:
        ValueError: ``path`` does not exist, or no path and nothing cached.
    """
    if path:
        full = os.path.abspath(os.path.expanduser(os.fspath(path)))
        if not os.path.isfile(full):
            raise ValueError(f"VGG19 weights file {path} not found: pass the path of "
                             f"{VGG19_WEIGHTS_FILE} (or a .weights.h5 of keras.applications."
                             "VGG19(include_top=False)), or use content='pixel'")
        return full
    homes = [os.environ.get("KERAS_HOME"), os.path.join(os.path.expanduser("~"), ".keras"),
             os.path.join("/tmp", ".keras")]
    tried = []
    for home in homes:
        if not home:
            continue
        candidate = os.path.join(home, "models", VGG19_WEIGHTS_FILE)
        tried.append(candidate)
        if os.path.isfile(candidate):
            return candidate
    raise ValueError(
        "content='vgg19' needs the VGG19 ImageNet weights and none are available (looked in "
        + ", ".join(tried) + "; kerasgan does not download them): pass vgg_weights=PATH "
        f"(--vgg-weights) to a copy of {VGG19_WEIGHTS_FILE}, or train with content='pixel' "
        "(SRResNet-MSE / SRGAN-MSE)")


def build_vgg19_features(weights_path, layer=DEFAULT_CONTENT_LAYER):
    """``keras.applications.VGG19(include_top=False)`` up to ``layer`` (after
    its ReLU), weights loaded from ``weights_path`` (no download), frozen.

    Returns:
        A ``keras.Model`` from Caffe-preprocessed BGR images ``(H, W, 3)`` to
        the feature map.
    """
    vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    try:
        vgg.load_weights(weights_path)
    except Exception as e:
        raise ValueError(f"could not load VGG19 weights from {weights_path} "
                         f"({type(e).__name__}: {e}): pass the no-top VGG19 weights file "
                         f"({VGG19_WEIGHTS_FILE})") from e
    try:
        out = vgg.get_layer(layer).output
    except ValueError:
        names = [lay.name for lay in vgg.layers if "conv" in lay.name]
        raise ValueError(f"VGG19 has no layer {layer!r}: choose one of {names}") from None
    features = keras.Model(vgg.input, out, name=f"vgg19_{layer}")
    features.trainable = False
    return features


def vgg_preprocess(images):
    """Images in [-1, 1] (1 or 3 channels) to VGG19's Caffe input: 0..255,
    RGB → BGR, channel means subtracted (``keras.applications.vgg19.preprocess_input``)."""
    x = (tf.cast(images, tf.float32) + 1.0) * 127.5
    if x.shape[-1] == 1:
        x = tf.repeat(x, 3, axis=-1)
    x = x[..., ::-1]
    return x - tf.constant(_VGG_MEAN_BGR, tf.float32)


def _mean_per_example(x):
    x = tf.cast(x, tf.float32)
    return tf.reduce_mean(tf.reshape(x, (tf.shape(x)[0], -1)), axis=1)


def pixel_content_loss(fake, real):
    """SRResNet-MSE's content loss per example: ``mean (G(lr) - hr)^2`` over
    pixels and channels, on images in [-1, 1] (4 times the MSE on [0, 1]
    images)."""
    return _mean_per_example(tf.square(tf.cast(fake, tf.float32) - tf.cast(real, tf.float32)))


def feature_content_loss(features, fake, real, scale=DEFAULT_CONTENT_SCALE):
    """The VGG content loss per example: ``mean (s * phi(G(lr)) - s * phi(hr))^2``
    over the feature map, ``phi`` = ``features`` on :func:`vgg_preprocess`'d
    images, ``s`` = ``scale`` (1/12.75 in the paper)."""
    both = tf.concat([tf.cast(fake, tf.float32), tf.cast(real, tf.float32)], axis=0)
    phi = tf.cast(features(vgg_preprocess(both), training=False), tf.float32) * float(scale)
    phi_fake, phi_real = tf.split(phi, 2, axis=0)
    return _mean_per_example(tf.square(phi_fake - tf.stop_gradient(phi_real)))


def generator_loss(content, fake_logits, adversarial_weight=1e-3, loss_fn=None):
    """SRGAN's per-example perceptual loss ``content + adversarial_weight *
    GAN(D(G(lr)))`` (``GAN``: ``loss_fn``, default non-saturating
    ``-log D(G(lr))``).

    Returns:
        ``(total, adversarial)``, each ``(batch,)`` float32.
    """
    loss_fn = loss_fn or losses_lib.non_saturating_generator_loss
    adversarial = loss_fn(fake_logits)
    return tf.cast(content, tf.float32) + float(adversarial_weight) * adversarial, adversarial


class _Untracked:
    """Holds the frozen content network out of Keras' tracking: it is not part
    of the GAN's weights (not saved in ``.keras`` files, not trained)."""

    def __init__(self, model=None, description="pixel"):
        self.model = model
        self.description = description


@register("srgan")
@keras.saving.register_keras_serializable(package="kerasgan")
class SRGAN(ImageConditionedGAN):
    """SRGAN: single-image super-resolution ×``scale`` with a GAN.

    An SRResNet generator ``G`` (:func:`build_srresnet_generator`) maps a
    low-res image ``lr`` ``(h, w, C)`` to ``(scale*h, scale*w, C)``; a VGG-style
    discriminator ``D`` (:func:`build_srgan_discriminator`) tells real high-res
    images from ``G(lr)``. One step on an ``(lr, hr)`` batch (as
    :meth:`kerasgan.data.SuperResolutionSource.dataset` yields them): ``G(lr)``
    once, a discriminator update (``BCE(D(hr), 1) + BCE(D(G(lr)), 0)``), then
    the generator update through the updated discriminator with the perceptual
    loss ``content + adversarial_weight * (-log D(G(lr)))`` (1e-3).
    Per-example terms, summed over the replica's examples, divided by the
    global batch size. Adam(1e-4, beta_1=0.9) for both (the paper's).

    The content network is pluggable (``content``):

    - ``"vgg19"``: the paper's SRGAN-VGG54, MSE of ``keras.applications.VGG19``
      features at ``content_layer`` (``block5_conv4``), each rescaled by
      ``content_scale`` (1/12.75). The ImageNet weights are read from
      ``vgg_weights`` or Keras' cache (:func:`find_vgg19_weights`) when the
      model is compiled, never downloaded; without them ``compile`` (or
      ``fit`` of a loaded model) raises a ValueError that says what to do.
      The VGG is frozen and not saved with the GAN.
    - ``"pixel"`` (default): MSE in pixel space (the paper's SRResNet-MSE /
      SRGAN-MSE): the fallback when the VGG weights are not available (they
      cannot be downloaded on offline machines). A random-weight conv feature
      extractor is deliberately not offered: its features carry no perceptual
      prior, so it would be a second, unvalidated pixel loss.

    Which one was used is in ``get_config()`` and in the metadata of every
    export (``content_network``).

    ``adversarial_weight=0`` trains SRResNet alone (the paper initialises
    SRGAN from an SRResNet-MSE; pass its weights with ``load_weights``).

    The generator is fully convolutional: ``translate`` and the exports take
    low-res images of any height and width; ``image_shape`` (high-res) is the
    training size the discriminator is built for; data batches must be
    ``image_shape / scale`` inputs and ``image_shape`` targets.

    Args:
        image_shape: ``(H, W, C)`` of the high-res images (training size),
            multiples of ``scale``.
        scale: up-sampling factor, a power of two (4).
        width: generator channels (64).
        n_blocks: generator residual blocks (16).
        d_width: discriminator channels of the first conv (64).
        d_dense: units of the discriminator's hidden dense layer (1024).
        content: ``"pixel"`` or ``"vgg19"`` (see above).
        vgg_weights: path of the VGG19 no-top weights (``content="vgg19"``).
        content_layer: the VGG19 layer of the features (``block5_conv4``).
        content_scale: factor on the VGG features (1/12.75).
        adversarial_weight: weight of the adversarial term (1e-3).
        **kwargs: :class:`kerasgan.core.ImageConditionedGAN` arguments
            (``ema_decay``, ``seed``, ``name``, ``dtype``).

    References:
        Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a
        Generative Adversarial Network", CVPR 2017 (arXiv:1609.04802).

    Example:
        >>> src = kerasgan.data.open_super_resolution("cifar10/train", scale=4)
        >>> gan = kerasgan.models.SRGAN(image_shape=(32, 32, 3), content="pixel")
        >>> gan.compile()
        >>> gan.fit(src.dataset(16, flip=True, seed=0), epochs=5)
        >>> hr = gan.translate(lr)             # (N, 4h, 4w, 3) in [-1, 1]
    """

    spec = FamilySpec(
        kind=IMAGE_TO_IMAGE, batch="super_resolution",
        summary="SRGAN: x4 super-resolution, SRResNet + VGG-style discriminator "
                "(Ledig et al. 2017)",
        options=(Option("width", help="generator width (channels)", minimum=1),
                 Option("d_width", help="discriminator width (channels)", minimum=1),
                 Option("n_blocks", help="residual blocks of the SRResNet", minimum=1),
                 Option("content", help="content loss: pixel (MSE; works offline) or vgg19 "
                        "(VGG54 features; needs local ImageNet weights)",
                        choices=("pixel", "vgg19")),
                 Option("vgg_weights", str, help="--content vgg19: the VGG19 no-top weights "
                        "file (default: Keras' cache; never downloaded)", metavar="PATH"),
                 Option("adversarial_weight", help="weight of the adversarial term",
                        minimum=0.0)),
        recommended={"epochs": 16, "batch_size": 32, "flip": True},
        references=("https://arxiv.org/abs/1609.04802",))

    @classmethod
    def check_options(cls, options):
        """The command line's options, checked before any data is read: the
        VGG19 weights file is located now (never downloaded)."""
        options = dict(super().check_options(options))
        content = options.setdefault("content", "pixel")  # recorded in run.json as before
        if options.get("vgg_weights") and content != "vgg19":
            raise ValueError("--vgg-weights applies to --content vgg19")
        if content == "vgg19":
            options["vgg_weights"] = find_vgg19_weights(options.get("vgg_weights"))
        return options

    tiny_config = {"image_shape": (8, 8, 1), "scale": 4, "width": 4, "n_blocks": 1,
                   "d_width": 2, "d_dense": 8}
    default_loss = "non_saturating"
    #: batches are (low-res, high-res) pairs made by bicubic down-sampling
    data_hint = "kerasgan.data.open_super_resolution(...).dataset(...)"

    def __init__(self, image_shape=(96, 96, 3), scale=4, width=64, n_blocks=16, d_width=64,
                 d_dense=1024, content="pixel", vgg_weights=None,
                 content_layer=DEFAULT_CONTENT_LAYER, content_scale=DEFAULT_CONTENT_SCALE,
                 adversarial_weight=1e-3, **kwargs):
        self.image_shape = validate_shape(image_shape, "image_shape")
        height, width_px, channels = self.image_shape
        self.scale = check_scale(scale)
        if height % self.scale or width_px % self.scale:
            raise ValueError(
                f"srgan x{self.scale} trains on high-res images whose height and width are "
                f"multiples of {self.scale}, got {height}x{width_px}: resize the data")
        self.input_channels = channels
        self.input_shape_ = (height // self.scale, width_px // self.scale, channels)
        self.size_multiple = 1
        if content not in CONTENT_NETWORKS:
            raise ValueError(f"content must be one of {CONTENT_NETWORKS}, got {content!r}")
        if content == "vgg19" and channels == 4:
            raise ValueError("content='vgg19' takes 1- or 3-channel images")
        if not float(adversarial_weight) >= 0 or not float(content_scale) > 0:
            raise ValueError(f"adversarial_weight must be >= 0 and content_scale > 0, got "
                             f"{adversarial_weight}, {content_scale}")
        self.width, self.n_blocks = int(width), int(n_blocks)
        self.d_width, self.d_dense = int(d_width), int(d_dense)
        self.content = content
        self.vgg_weights = None if vgg_weights is None else os.fspath(vgg_weights)
        self.content_layer = str(content_layer)
        self.content_scale = float(content_scale)
        self.adversarial_weight = float(adversarial_weight)
        with precision.dtype_scope(kwargs.get("dtype")):
            generator = build_srresnet_generator(channels, channels, self.scale, self.width,
                                                 self.n_blocks)
            discriminator = build_srgan_discriminator(self.image_shape, self.d_width,
                                                      self.d_dense)
        super().__init__(generator, discriminator, **kwargs)
        self._content = _Untracked()
        self._loading = False

    def get_config(self):
        config = super().get_config()
        config.update(image_shape=list(self.image_shape), scale=self.scale, width=self.width,
                      n_blocks=self.n_blocks, d_width=self.d_width, d_dense=self.d_dense,
                      content=self.content, vgg_weights=self.vgg_weights,
                      content_layer=self.content_layer, content_scale=self.content_scale,
                      adversarial_weight=self.adversarial_weight)
        return config

    # ------------------------------------------------------- content network
    @property
    def content_network(self):
        """The frozen feature network of ``content="vgg19"`` once compiled
        (None for ``"pixel"`` or before ``compile``)."""
        return self._content.model

    def content_description(self):
        """Which content loss this model trains with, for metadata and cards:
        ``"pixel-mse"`` or ``"vgg19:block5_conv4/12.75 (weights FILE)"``."""
        if self.content == "pixel":
            return "pixel-mse"
        text = f"vgg19:{self.content_layer}/{1.0 / self.content_scale:.4g}"
        return text + (f" ({self._content.description})" if self._content.model else "")

    def _build_content_network(self):
        """Builds the VGG19 feature network (``content="vgg19"``) from local
        weights; a no-op for ``"pixel"`` or when built. Tests may monkeypatch
        :func:`build_vgg19_features`."""
        if self.content != "vgg19" or self._content.model is not None:
            return
        path = find_vgg19_weights(self.vgg_weights)
        self._content = _Untracked(build_vgg19_features(path, self.content_layer),
                                   f"weights {os.path.basename(path)}")

    def compile(self, g_optimizer=None, d_optimizer=None, g_loss=None, d_loss=None, **kwargs):
        """:meth:`kerasgan.GAN.compile`; also builds the content network
        (``content="vgg19"``: raises ValueError when its weights are not
        available, except while loading a saved model for inference)."""
        super().compile(g_optimizer, d_optimizer, g_loss=g_loss, d_loss=d_loss, **kwargs)
        try:
            self._build_content_network()
        except ValueError:
            if not self._loading:
                raise

    def compile_from_config(self, config):
        # a saved vgg19 model loads for inference without the VGG weights;
        # fit() asks for them
        self._loading = True
        try:
            super().compile_from_config(config)
        finally:
            self._loading = False

    def fit(self, *args, **kwargs):
        self._build_content_network()
        return super().fit(*args, **kwargs)

    def export_metadata(self):
        """Extra metadata of an export: the scale and the content network."""
        return {"scale": self.scale, "content_network": self.content_description()}

    def default_optimizers(self):
        return (keras.optimizers.Adam(1e-4, beta_1=0.9, beta_2=0.999),
                keras.optimizers.Adam(1e-4, beta_1=0.9, beta_2=0.999))

    def penalty_names(self):
        return ["content", "g_gan"]

    def content_loss(self, fake, real):
        """Per-example content loss of ``fake`` against ``real`` high-res images."""
        if self.content == "pixel":
            return pixel_content_loss(fake, real)
        if self._content.model is None:
            raise ValueError("srgan: the vgg19 content network is not built: compile the "
                             "model (with the VGG19 weights available) before training")
        return feature_content_loss(self._content.model, fake, real, self.content_scale)

    # ----------------------------------------------------------------- data
    def _size_error(self, what, size, expected):
        hr = tuple(self.image_shape[:2])
        return (f"srgan: {what} are {size[0]}x{size[1]}, the model takes {hr[0] // self.scale}x"
                f"{hr[1] // self.scale} low-res inputs and {hr[0]}x{hr[1]} high-res targets "
                f"(x{self.scale}): build it with image_shape= the targets' size, or make the "
                "pairs with kerasgan.data.open_super_resolution(..., scale=" f"{self.scale})")

    def call(self, inputs, training=False):
        """Low-res images give high-res ones; an ``(lr, hr)`` pair gives ``G(lr)``."""
        if isinstance(inputs, dict):
            inputs = inputs["inputs"]
        if isinstance(inputs, (tuple, list)):
            inputs = inputs[0]
        return self.generator(inputs, training=training)

    def triplets(self, inputs, targets=None, batch_size=16):
        """Rows of input (nearest-upscaled) / bicubic / output / target (when
        given): ``(k * N, H, W, C)`` images and the row length ``k`` (4 or 3)."""
        from kerasgan.images import bicubic_upscale, nearest_upscale

        outputs = self.translate(inputs, batch_size)
        x = np.asarray(inputs, dtype="float32")
        if x.ndim == 3:
            x = x[None]
        rows = [_as_channels(nearest_upscale(x, self.scale), outputs.shape[-1]),
                _as_channels(bicubic_upscale(x, self.scale), outputs.shape[-1]), outputs]
        if targets is not None:
            rows.append(np.asarray(targets, dtype="float32"))
        grid = np.stack(rows, axis=1)
        return grid.reshape((-1, *outputs.shape[1:])), len(rows)

    # ------------------------------------------------------------------ step
    def train_step(self, data):
        lr, hr = self._unpack_pair(data)
        _, global_batch = tf_step.batch_layout(tf_step.batch_size(lr))
        f32 = self._float32

        def d_loss(_, fake):
            real_logits = self.judge(self.discriminator, hr)
            fake_logits = self.judge(self.discriminator, tf.stop_gradient(fake))
            per_example = self.d_loss_fn(real_logits, fake_logits)
            return per_example, (per_example, real_logits)

        def g_loss(recording):
            fake = f32(self.generator(lr, training=True))
            with recording.paused():  # D's update on G(lr), outside G's tape
                d_per_example, real_logits = self.minimize(
                    "d", lambda r: d_loss(r, fake), global_batch)
                self.observe_real_logits(real_logits)
            content = self.content_loss(fake, hr)
            # the adversarial term goes through the updated discriminator
            fake_logits_g = self.judge(self.discriminator, fake)
            per_example, g_gan = generator_loss(content, fake_logits_g,
                                                self.adversarial_weight, self.g_loss_fn)
            return per_example, (per_example, d_per_example, content, g_gan)

        g_per_example, d_per_example, content, g_gan = self.minimize("g", g_loss, global_batch,
                                                                     ema=True)

        self.d_loss_tracker.update_state(d_per_example)
        self.g_loss_tracker.update_state(g_per_example)
        self.extra_trackers["content"].update_state(content)
        self.extra_trackers["g_gan"].update_state(g_gan)
        self.adjust_augmentation(global_batch)
        return self._step_logs()


__all__ = ["SRGAN", "build_srresnet_generator", "build_srgan_discriminator",
           "build_vgg19_features", "find_vgg19_weights", "pixel_content_loss",
           "feature_content_loss", "generator_loss", "vgg_preprocess", "CONTENT_NETWORKS"]
