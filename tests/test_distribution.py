"""MirroredStrategy over two logical CPUs == one device on the same global batch."""

import numpy as np
import pytest
import tensorflow as tf
import keras

import kerasgan
from kerasgan import models

from conftest import HEAVY_FAMILIES, family_data, slow_for

GLOBAL_BATCH = 16
STEPS = 3


def _train(strategy, name, images, **overrides):
    config = dict(models.get_class(name).tiny_config, seed=11, **overrides)
    with strategy.scope():
        keras.utils.set_random_seed(5)  # same initial weights in both runs
        gan = models.get(name, **config)
        gan.compile()
    data = (family_data(name, images)
            if gan.num_classes or gan.image_conditioned or gan.spec.batch == "sequences"
            else images)
    ds = tf.data.Dataset.from_tensor_slices(data).batch(GLOBAL_BATCH, drop_remainder=True)
    history = gan.fit(ds.take(STEPS), epochs=1, verbose=0)
    return gan, history.history


def _assert_same_weights(a, b):
    assert len(a.weights) == len(b.weights)
    for va, vb in zip(a.weights, b.weights):
        x, y = va.numpy(), vb.numpy()
        # relative tolerance 1e-5, measured against the tensor's scale
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(x).max()), err_msg=va.path)


def _assert_replicas_agree(gan):
    """Every replica holds the same value of every variable (weights, optimizer
    state, batch-norm statistics, spectral-norm vectors)."""
    checked = 0
    for v in gan.weights + gan.g_optimizer.variables + gan.d_optimizer.variables:
        copies = getattr(v.value, "values", None)
        if copies is None:
            continue
        checked += 1
        for other in copies[1:]:
            np.testing.assert_array_equal(copies[0].numpy(), other.numpy(), err_msg=v.path)
    assert checked > 0


@pytest.mark.parametrize("name", slow_for(*HEAVY_FAMILIES))
def test_mirrored_equals_one_device(name, images_8x8, mirrored_strategy):
    assert mirrored_strategy.num_replicas_in_sync == 2
    single, h1 = _train(tf.distribute.OneDeviceStrategy("/cpu:0"), name, images_8x8, ema_decay=0.9)
    mirrored, h2 = _train(mirrored_strategy, name, images_8x8, ema_decay=0.9)
    # a token-sequence family counts its steps over its phases (MLE,
    # discriminator pre-training, adversarial: all three run here)
    counter = getattr(mirrored, "steps_done", mirrored.g_optimizer.iterations)
    assert int(counter.numpy()) == STEPS
    _assert_same_weights(single, mirrored)
    _assert_replicas_agree(mirrored)
    # the reported losses are global means, equal to the one-device run's
    for key in h1:
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_reported_losses_are_global_means(images_8x8, mirrored_strategy):
    """Recompute the step's losses by hand on the global batch and compare."""
    with mirrored_strategy.scope():
        keras.utils.set_random_seed(5)
        gan = models.DCGAN(image_shape=(8, 8, 1), latent_dim=8, width=4, seed=3)
        # SGD with lr 0 leaves the weights alone, so the losses can be recomputed
        gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))
    state = gan.seed_generator.state.numpy().copy()
    batch = images_8x8[:GLOBAL_BATCH]
    logs = gan.fit(tf.data.Dataset.from_tensor_slices(batch).batch(GLOBAL_BATCH), verbose=0).history

    # Replay the same random draws on one device: z for D, eps, z for G.
    check = keras.random.SeedGenerator(0)
    check.state.assign(state)
    z_d = keras.random.normal((GLOBAL_BATCH, 8), seed=check)
    keras.random.uniform((GLOBAL_BATCH,), seed=check)
    z_g = keras.random.normal((GLOBAL_BATCH, 8), seed=check)
    # Training-mode forward passes on the global batch (synchronised batch norm
    # makes the two replicas compute global statistics too).
    real_logits = gan.discriminator(batch, training=True)
    fake_logits = gan.discriminator(gan.generator(z_d, training=True), training=True)
    d_expected = np.mean(gan.d_loss_fn(real_logits, fake_logits))
    g_expected = np.mean(gan.g_loss_fn(gan.discriminator(gan.generator(z_g, training=True), training=True)))
    assert logs["d_loss"][0] == pytest.approx(float(d_expected), rel=1e-5)
    assert logs["g_loss"][0] == pytest.approx(float(g_expected), rel=1e-5)


def test_uneven_final_batch(images_8x8, mirrored_strategy):
    """A global batch that does not split evenly (15 = 8 + 7) still matches.

    The first batch is even (16): Keras averages the first distributed batch to
    build the model, which fails for replicas of different sizes.
    """
    data = images_8x8[:31]  # batches of 16, then 15

    def run(strategy):
        with strategy.scope():
            keras.utils.set_random_seed(5)
            gan = models.WGANGP(image_shape=(8, 8, 1), latent_dim=8, width=4, d_steps=1, seed=2)
            gan.compile()
        gan.fit(tf.data.Dataset.from_tensor_slices(data).batch(16), epochs=1, verbose=0)
        return gan

    _assert_same_weights(run(tf.distribute.OneDeviceStrategy("/cpu:0")), run(mirrored_strategy))


def test_generate_and_export_of_a_model_built_under_mirrored(images_8x8, mirrored_strategy,
                                                             tmp_path):
    # predict_on_batch on such a model returns one copy of the batch per replica;
    # generate and the export's Keras reference must not
    gan, _ = _train(mirrored_strategy, "dcgan", images_8x8, ema_decay=0.9)
    for n in (1, 3, 7):
        images = gan.generate(n, seed=2)
        assert images.shape == (n, 8, 8, 1)
        expected = gan.ema_generator(gan.latents(n, 2), training=False)
        np.testing.assert_allclose(images, np.asarray(expected), atol=1e-6)
    report = kerasgan.export.export_onnx(gan, tmp_path / "g.onnx")
    assert report["parity"]["onnxruntime"] <= 1e-4
    report = kerasgan.export.export_saved_model(gan, tmp_path / "g_sm")
    assert report["parity"]["saved_model"] <= 1e-4
