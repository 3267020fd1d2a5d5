"""Tests of kerasgan.metrics.domain: the committed MNIST / CIFAR-10 domain classifiers.

No training here: the networks are built, their committed weights verified and loaded,
and (on real test images) their accuracy checked on a 2,000-image subset.
"""

import io
import os
import re
import shutil
import tarfile

import numpy as np
import pytest
from conftest import SHARED_DATA, require

from kerasgan import data
from kerasgan.metrics import domain
from kerasgan.metrics.domain import NETWORKS, DomainWeightsError, load_domain_network

CIFAR10_TARBALL = os.path.join(SHARED_DATA, "cifar10", "cifar10-jpg.tar.gz")

# Accuracy floors on 2,000 test images (the full-test-split accuracies are in NETWORKS).
MIN_ACCURACY = {"mnist": 0.985, "cifar10": 0.78}


def accuracy(model, images_uint8, labels, batch_size=500):
    correct = 0
    for i in range(0, len(images_uint8), batch_size):
        x = images_uint8[i : i + batch_size].astype(np.float32) / 127.5 - 1.0
        logits = np.asarray(model(x, training=False)["logits"])
        correct += int(np.sum(logits.argmax(axis=1) == labels[i : i + batch_size]))
    return correct / len(images_uint8)


# ----------------------------------------------------------------------------- registry


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown domain network 'svhn'.*'mnist'.*'cifar10'"):
        load_domain_network("svhn")


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_registry_entry_is_complete(name):
    net = NETWORKS[name]
    assert net.name == name
    assert net.weights_file == f"{name}_classifier.weights.h5"
    assert re.fullmatch(r"[0-9a-f]{64}", net.sha256)
    assert len(net.class_names) == 10
    assert net.test_accuracy >= {"mnist": 0.99, "cifar10": 0.80}[name]
    assert net.command.startswith("python benchmarks/train_domain_classifiers.py")
    assert domain.verify_weights(name) == os.path.join(domain.WEIGHTS_DIR, net.weights_file)


def test_class_order_is_the_standard_one():
    assert NETWORKS["mnist"].class_names == tuple(str(d) for d in range(10))
    assert NETWORKS["cifar10"].class_names == (
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    )  # fmt: skip


# ----------------------------------------------------------------------------- loading


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_loads_and_outputs_features_and_logits(name):
    net = NETWORKS[name]
    model = load_domain_network(name)
    x = np.random.RandomState(0).uniform(-1, 1, (3,) + net.image_shape).astype("float32")
    out = model(x, training=False)
    assert set(out) == {"features", "logits"}
    assert tuple(out["features"].shape) == (3, net.feature_dim)
    assert tuple(out["logits"].shape) == (3, 10)
    assert out["features"].dtype.name == "float32" and out["logits"].dtype.name == "float32"
    features = np.asarray(out["features"])
    assert np.all(np.isfinite(features)) and features.min() >= 0.0  # after a ReLU
    # inference is deterministic: dropout and batch norm are in inference mode
    again = model(x, training=False)["logits"]
    np.testing.assert_array_equal(np.asarray(again), np.asarray(out["logits"]))


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_mixed_precision_build_keeps_float32_outputs(name):
    model = NETWORKS[name].builder(dtype="mixed_bfloat16")
    out = model(np.zeros((2,) + NETWORKS[name].image_shape, "float32"), training=False)
    assert out["features"].dtype.name == "float32" and out["logits"].dtype.name == "float32"


def test_corrupted_weight_file_is_refused(tmp_path):
    copy = tmp_path / "mnist_classifier.weights.h5"
    shutil.copyfile(domain.weights_path("mnist"), copy)
    raw = bytearray(copy.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    copy.write_bytes(bytes(raw))
    expected = r"mnist_classifier\.weights\.h5 has sha256 [0-9a-f]{64}, expected"
    with pytest.raises(DomainWeightsError, match=expected):
        load_domain_network("mnist", path=copy)
    with pytest.raises(DomainWeightsError, match="corrupt or was replaced"):
        domain.verify_weights("mnist", copy)


def test_missing_weight_file_is_reported(tmp_path):
    missing = tmp_path / "cifar10_classifier.weights.h5"
    expected = r"cifar10_classifier\.weights\.h5 are missing.*--only cifar10"
    with pytest.raises(DomainWeightsError, match=expected):
        load_domain_network("cifar10", path=missing)


# ----------------------------------------------------------------------------- accuracy


def test_mnist_accuracy_on_2000_test_images():
    # The bundled mnist-10k is the MNIST test split (byte-exact), so no shared data needed.
    src = data.open_source("mnist-10k")
    acc = accuracy(load_domain_network("mnist"), src.images[:2000], src.labels[:2000])
    assert acc >= MIN_ACCURACY["mnist"]


def read_cifar10_test_subset(per_class):
    """The first `per_class` images of each class of the JPEG test split, standard labels."""
    from PIL import Image

    names = NETWORKS["cifar10"].class_names
    images, labels = [], []
    with tarfile.open(CIFAR10_TARBALL) as tar:
        for member in tar:
            m = re.fullmatch(r"test/+([a-z]+)/(\d+)\.jpg", member.name)
            if m and m.group(1) in names and int(m.group(2)) < per_class:
                with Image.open(io.BytesIO(tar.extractfile(member).read())) as img:
                    images.append(np.asarray(img.convert("RGB"), np.uint8))
                labels.append(names.index(m.group(1)))
    return np.stack(images), np.asarray(labels)


def test_cifar10_accuracy_on_2000_test_images():
    require(CIFAR10_TARBALL, "CIFAR-10 test data (../shared/data/cifar10)")
    # 200 per class: the tarball is sorted by class, so "the first 2000" would be 2 classes.
    images, labels = read_cifar10_test_subset(200)
    assert images.shape == (2000, 32, 32, 3) and np.all(np.bincount(labels) == 200)
    acc = accuracy(load_domain_network("cifar10"), images, labels)
    assert acc >= MIN_ACCURACY["cifar10"]
