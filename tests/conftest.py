"""Test set-up: two logical CPU devices, so MirroredStrategy runs two real replicas.

This must run before anything initialises TensorFlow, hence at import time here.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# kerasgan first, as a user's script would: it chooses the CPU configuration
# (oneDNN, threads: kerasgan/cpu.py) before TensorFlow starts, so the whole
# suite (seeded repeats, exact resume, mirrored == one device) runs under it.
import kerasgan  # noqa: E402,F401
import tensorflow as tf  # noqa: E402

# The one line the first fit of a process prints about that configuration would
# land in whichever test fits first; tests/test_cpu.py checks it in subprocesses.
kerasgan.cpu.announce(quiet=True)

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402

from _requires import in_ci, missing, require  # noqa: E402,F401  (re-exported for tests)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the real data sets (MNIST, CIFAR-10, facades...): a test that needs one goes
#: through ``require(os.path.join(SHARED_DATA, ...), reason)`` (fails under CI=true)
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")


# Families whose copy of a per-family generic check (mirrored == one device,
# mixed precision, export parity, XLA == eager, save/load, seeded repeat) is
# the costliest: it runs in CI's ``-m slow`` pass, the other families' in the
# default suite, so every check still runs by default on most families.
HEAVY_FAMILIES = ("stylegan2", "progan", "sngan", "cyclegan", "srgan", "seqgan", "relgan",
                  "drit")


def slow_for(*heavy, names=None):
    """Family names (``kerasgan.models.names()`` by default) for parametrize,
    the ``heavy`` ones marked slow (their run of this check is in CI's
    ``-m slow`` pass, not the default suite)."""
    from kerasgan import models

    names = models.names() if names is None else names
    return [pytest.param(f, marks=pytest.mark.slow) if f in heavy else f for f in names]


def family_data(name, images, labels=None):
    """What family ``name`` trains on, made from ``images``: ``(inputs,
    targets)`` pairs for an image-conditioned family (targets: the images
    mirrored; super-resolution: the images down-sampled, and the images), token
    ids for a token-sequence family (the first ``seq_len`` pixels quantised to
    the vocabulary), else ``(images, labels)`` (labels 0..2 by default)."""
    from kerasgan import models

    cls = models.get_class(name)
    if cls.spec.batch == "sequences":  # token ids (B, seq_len): the pixels, quantised
        config = cls.tiny_config
        flat = images.reshape(len(images), -1)[:, : config["seq_len"]]
        return np.round((flat + 1) / 2 * (config["vocab_size"] - 1)).astype("int32")
    if cls.spec.batch == "super_resolution":  # (low-res, high-res) pairs
        from kerasgan.data import downscale

        return downscale(images, cls.tiny_config["scale"]).numpy(), images
    if cls.image_conditioned:
        return images, images[:, :, ::-1].copy()
    return images, np.arange(len(images)) % 3 if labels is None else labels


@pytest.fixture(scope="session")
def mirrored_strategy():
    """One MirroredStrategy over two logical CPUs for the whole session.

    TensorFlow's collective instance keys clash when several MirroredStrategy
    objects over the same devices run in one process, so tests share this one.
    """
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


@pytest.fixture(autouse=True)
def _clear_session():
    """A fresh Keras state (layer names, graphs) for every test, without the full
    ``gc.collect()`` of ``clear_session()``: TensorFlow's traced graphs pile up over
    the run (~10k objects a test), so that collection grew from 0.15 s to ~2 s a
    test and was half the default suite's time (663 of 1334 s of set-up). Python's
    own generational collector still frees cycles as the run goes."""
    keras.backend.clear_session(free_memory=False)
    yield


@pytest.fixture
def images_8x8():
    """48 random 8x8x1 images in [-1, 1]."""
    return np.random.RandomState(0).uniform(-1, 1, (48, 8, 8, 1)).astype("float32")
