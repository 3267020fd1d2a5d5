"""Small domain classifiers for fast GAN evaluation on MNIST and CIFAR-10.

The standard FID network (Inception-v3 at 299x299) costs seconds per batch on a CPU.
These two classifiers run at the datasets' native sizes and are trained on the real
data, so they give a cheap Fréchet distance in their own feature space (FID-style,
"domain FD") and the classification accuracy of class-conditional samples.

Both are Keras functional models that take NHWC float32 images in ``[-1, 1]`` (what
kerasgan generators output and ``ImageSource.dataset`` yields: ``x / 127.5 - 1``) and
return ``{"features": (batch, D), "logits": (batch, 10)}``: ``features`` is the
penultimate layer after its activation (what the Fréchet distance uses), ``logits`` the
unnormalised class scores in the standard class order (``NETWORKS[name].class_names``).

The trained weights ship inside the package (``kerasgan/metrics/weights/``); each file's
sha256 is recorded in ``NETWORKS`` and checked before loading. They are reproduced by
``python benchmarks/train_domain_classifiers.py`` (the ``command`` of each entry).

Public API: ``build_mnist_classifier``, ``build_cifar10_classifier``, ``NETWORKS``,
``DomainNetwork``, ``load_domain_network``, ``weights_path``, ``verify_weights``,
``DomainWeightsError``, ``WEIGHTS_DIR``.

Example:
    >>> model = load_domain_network("mnist")
    >>> out = model(images_in_minus1_1, training=False)   # (batch, 28, 28, 1)
    >>> out["features"].shape, out["logits"].shape
    (TensorShape([batch, 128]), TensorShape([batch, 10]))
"""

import dataclasses
import os

from kerasgan.cache import file_sha256
from kerasgan.metrics.stats import MetricInputError

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
"""Folder of the committed weight files, inside the package."""

MNIST_CLASS_NAMES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
CIFAR10_CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


class DomainWeightsError(MetricInputError, RuntimeError):
    """A domain network's weight file is missing or is not the expected one; the message
    names the file and what to do. A ``MetricInputError`` (so ``kerasgan evaluate`` prints
    it as one line) and, as before, a ``RuntimeError``."""


# --------------------------------------------------------------------------- networks


def _conv_bn_relu(x, filters, name, dtype, pool=False):
    """3x3 conv (no bias) [-> 2x2 max pool] -> batch norm -> ReLU."""
    from keras import layers

    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv", dtype=dtype)(x)
    if pool:
        x = layers.MaxPooling2D(2, name=f"{name}_pool", dtype=dtype)(x)
    x = layers.BatchNormalization(name=f"{name}_bn", dtype=dtype)(x)
    return layers.ReLU(name=f"{name}_relu", dtype=dtype)(x)


def build_mnist_classifier(dtype="float32"):
    """The MNIST domain classifier: a small VGG-style CNN with batch norm.

    ``28x28x1 -> [conv 32, pool] -> [conv 64, conv 64, pool] -> flatten -> dense 128 +
    BN + ReLU ("features") -> dropout 0.3 -> dense 10 ("logits")``; every conv is 3x3
    without bias, followed by batch norm and ReLU; about 460K parameters.

    Args:
        dtype: the layers' dtype policy: ``"float32"`` (evaluation, the default) or
            ``"mixed_bfloat16"`` (training on CPUs with AMX/AVX-512 BF16). The two
            outputs are float32 under either.

    Returns:
        An uncompiled ``keras.Model`` named ``mnist_classifier``: input
        ``(batch, 28, 28, 1)`` float32 in ``[-1, 1]``, output
        ``{"features": (batch, 128), "logits": (batch, 10)}``.

    Example:
        >>> model = build_mnist_classifier()
        >>> model.count_params() < 500_000
        True
    """
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1), name="images")
    x = _conv_bn_relu(inputs, 32, "block1", dtype)
    x = layers.MaxPooling2D(2, name="block1_pool", dtype=dtype)(x)
    x = _conv_bn_relu(x, 64, "block2a", dtype)
    x = _conv_bn_relu(x, 64, "block2b", dtype)
    x = layers.MaxPooling2D(2, name="block2_pool", dtype=dtype)(x)
    x = layers.Flatten(name="flatten", dtype=dtype)(x)
    x = layers.Dense(128, use_bias=False, name="fc", dtype=dtype)(x)
    x = layers.BatchNormalization(name="fc_bn", dtype=dtype)(x)
    features = layers.ReLU(name="features", dtype="float32")(x)
    x = layers.Dropout(0.3, name="dropout", dtype="float32")(features)
    logits = layers.Dense(10, name="logits", dtype="float32")(x)
    return keras.Model(inputs, {"features": features, "logits": logits}, name="mnist_classifier")


def build_cifar10_classifier(dtype="float32"):
    """The CIFAR-10 domain classifier: a compact VGG-style CNN with batch norm.

    ``32x32x3 -> conv 32 -> 3 x [conv w, pool 2, conv w] for w = 64, 128, 256 ->
    global max pool ("features", 256) -> dense 10 ("logits")``; every conv is
    3x3 without bias, followed by batch norm and ReLU (the first conv of each group is
    pooled before its batch norm, as in the fast CIFAR-10 baselines of Page 2018 and
    Jordan 2024); about 1.17M parameters.

    Args:
        dtype: the layers' dtype policy: ``"float32"`` (evaluation, the default) or
            ``"mixed_bfloat16"`` (training). The two outputs are float32 under either.

    Returns:
        An uncompiled ``keras.Model`` named ``cifar10_classifier``: input
        ``(batch, 32, 32, 3)`` float32 in ``[-1, 1]``, output
        ``{"features": (batch, 256), "logits": (batch, 10)}``.

    References:
        D. Page, "How to train your ResNet", 2018 (myrtle.ai).
        K. Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU", 2024 (airbench).

    Example:
        >>> model = build_cifar10_classifier()
        >>> model.output["features"].shape
        (None, 256)
    """
    import keras
    from keras import layers

    inputs = keras.Input((32, 32, 3), name="images")
    x = _conv_bn_relu(inputs, 32, "stem", dtype)
    for i, width in enumerate((64, 128, 256), start=1):
        x = _conv_bn_relu(x, width, f"group{i}a", dtype, pool=True)
        x = _conv_bn_relu(x, width, f"group{i}b", dtype)
    features = layers.GlobalMaxPooling2D(name="features", dtype="float32")(x)
    logits = layers.Dense(10, name="logits", dtype="float32")(features)
    return keras.Model(inputs, {"features": features, "logits": logits}, name="cifar10_classifier")


# --------------------------------------------------------------------------- registry


@dataclasses.dataclass(frozen=True)
class DomainNetwork:
    """One entry of ``NETWORKS``: how to build a domain classifier and which weights.

    Attributes:
        name: the registry key (``"mnist"``, ``"cifar10"``).
        builder: ``builder(dtype="float32")`` returns the uncompiled model.
        weights_file: file name inside ``WEIGHTS_DIR``.
        image_shape: ``(H, W, C)`` of the input images.
        class_names: the class of each logit, in order.
        feature_dim: width of the ``features`` output.
        test_accuracy: top-1 accuracy of the committed weights on the full test split
            of ``/work/shared/data`` (10,000 images), in float32.
        sha256: sha256 of the weight file.
        command: the command (from the repository root) that reproduces the file.
    """

    name: str
    builder: object
    weights_file: str
    image_shape: tuple
    class_names: tuple
    feature_dim: int
    test_accuracy: float
    sha256: str
    command: str


NETWORKS = {
    "mnist": DomainNetwork(
        name="mnist",
        builder=build_mnist_classifier,
        weights_file="mnist_classifier.weights.h5",
        image_shape=(28, 28, 1),
        class_names=MNIST_CLASS_NAMES,
        feature_dim=128,
        test_accuracy=0.9948,
        sha256="2840639b4a09dbb2a89a2730b556950224b740aa5553a9e8cfd7fdfee9677f4c",
        command="python benchmarks/train_domain_classifiers.py --only mnist",
    ),
    "cifar10": DomainNetwork(
        name="cifar10",
        builder=build_cifar10_classifier,
        weights_file="cifar10_classifier.weights.h5",
        image_shape=(32, 32, 3),
        class_names=CIFAR10_CLASS_NAMES,
        feature_dim=256,
        test_accuracy=0.8674,
        sha256="1f57851850eb56ec91ab2807e8244de8559739bc6b20733718bd4dde821310fa",
        command="python benchmarks/train_domain_classifiers.py --only cifar10",
    ),
}
"""The domain networks by name, with their measured test accuracy and weight sha256."""


def _network(name):
    if name not in NETWORKS:
        known = ", ".join(repr(k) for k in NETWORKS)
        raise ValueError(f"unknown domain network {name!r}: expected one of {known}")
    return NETWORKS[name]


def weights_path(name):
    """Path of the committed weight file of domain network ``name``.

    Raises:
        ValueError: if ``name`` is not in ``NETWORKS``.
    """
    return os.path.join(WEIGHTS_DIR, _network(name).weights_file)


def verify_weights(name, path=None):
    """Checks that a weight file is the one recorded for domain network ``name``.

    Args:
        name: a key of ``NETWORKS``.
        path: the file to check; defaults to ``weights_path(name)``.

    Returns:
        The path that was checked.

    Raises:
        ValueError: if ``name`` is not in ``NETWORKS``.
        DomainWeightsError: if the file is missing or its sha256 is not the recorded one.
    """
    network = _network(name)
    path = os.fspath(path) if path is not None else weights_path(name)
    if not os.path.isfile(path):
        raise DomainWeightsError(
            f"the {name!r} domain network weights {path} are missing: reinstall kerasgan "
            f"(the file ships inside the package) or retrain it with `{network.command}`"
        )
    actual = file_sha256(path)
    if actual != network.sha256:
        raise DomainWeightsError(
            f"{path} has sha256 {actual}, expected {network.sha256} for the {name!r} domain "
            f"network: the file is corrupt or was replaced; reinstall kerasgan or retrain it "
            f"with `{network.command}` and update NETWORKS"
        )
    return path


def load_domain_network(name, path=None):
    """Builds domain network ``name`` (float32) and loads its verified weights.

    Args:
        name: ``"mnist"`` or ``"cifar10"`` (a key of ``NETWORKS``).
        path: weight file to load instead of the committed one; its sha256 must still be
            the recorded one.

    Returns:
        A ``keras.Model`` mapping ``(batch, H, W, C)`` float32 images in ``[-1, 1]`` to
        ``{"features": (batch, D), "logits": (batch, 10)}``. Call it with
        ``training=False`` (the default for ``model(x)`` outside ``fit``).

    Raises:
        ValueError: if ``name`` is unknown (the message lists the known names).
        DomainWeightsError: if the weight file is missing or its sha256 does not match.

    Example:
        >>> model = load_domain_network("cifar10")
        >>> logits = model(images, training=False)["logits"]
    """
    network = _network(name)
    path = verify_weights(name, path)
    model = network.builder(dtype="float32")
    model.load_weights(path)
    return model
