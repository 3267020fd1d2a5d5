"""ProGAN: the schedule, the fade-in blending in both networks and on the
reals, the drift term, resume mid-fade, export at a level of detail, bad input."""

import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasgan
from kerasgan import cli, models
from kerasgan.models.progan import ProGAN, channels_at, process_reals, progressive_lod

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "export"))
from onnx_generator import OnnxGenerator  # noqa: E402


def tiny(**overrides):
    return ProGAN(**dict(ProGAN.tiny_config, **overrides))


def dataset(images, batch_size=16):
    return tf.data.Dataset.from_tensor_slices(images).batch(batch_size, drop_remainder=True)


def official_lod(images, max_lod, stable, fade):
    """The official TrainingSchedule (progressive_growing_of_gans, train.py), in kimg-free form."""
    phase_dur = stable + fade
    phase_idx = int(np.floor(images / phase_dur)) if phase_dur > 0 else 0
    phase_img = images - phase_idx * phase_dur
    lod = max_lod - phase_idx
    if fade > 0:
        lod -= max(phase_img - stable, 0.0) / fade
    return max(lod, 0.0)


def upsample(x, factor):
    return np.repeat(np.repeat(x, factor, axis=1), factor, axis=2)


def avg_pool(x, factor):
    n, h, w, c = x.shape
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


# ------------------------------------------------------------------ schedule
def test_schedule_follows_the_official_training_schedule():
    # 32x32 from 4x4: stabilise 100 images, fade 50, three times
    points = {0: 3.0, 99: 3.0, 100: 3.0, 125: 2.5, 150: 2.0, 249: 2.0, 275: 1.5, 300: 1.0,
              425: 0.5, 450: 0.0, 451: 0.0, 10**7: 0.0}
    for images, expected in points.items():
        got = float(progressive_lod(images, 3, 100, 50))
        assert got == pytest.approx(expected), images
        assert got == pytest.approx(official_lod(images, 3, 100, 50)), images
    # without a fade the resolution switches at once; without phases, no growing
    assert [float(progressive_lod(i, 2, 10, 0)) for i in (9, 10, 19, 20)] == [2, 1, 1, 0]
    assert float(progressive_lod(123, 3, 0, 0)) == 0.0
    # in graph, from an int64 step counter
    fn = tf.function(lambda n: progressive_lod(n, 3, 100, 50))
    assert float(fn(tf.constant(275, tf.int64))) == pytest.approx(1.5)


def test_model_schedule_and_widths():
    gan = ProGAN(image_shape=(32, 32, 1), latent_dim=8, width=16, channel_base=64,
                 stable_images=100, fade_images=50, initial_resolution=8)
    assert gan.max_lod == 2 and gan.lod == 2.0 and gan.resolution == 8
    assert gan.lod_at(125) == pytest.approx(1.5) and gan.lod_at(175) == 1.0
    gan.set_lod(1.5)
    assert gan.resolution == 16
    # channels: min(channel_base // r, width), the paper's nf() with fmap_base = 32
    assert [channels_at(r, 16, 64) for r in (4, 8, 16, 32)] == [16, 8, 4, 2]
    assert gan.generator.get_layer("32x32_conv1").filters == 2
    assert gan.generator.get_layer("4x4_conv").filters == 16
    assert gan.discriminator.get_layer("4x4_dense0").units == 16  # nf(0) = min(64 // 2, 16)


# ------------------------------------------------------------------ blending
def _rgb_paths(generator):
    names = ["4x4_to_rgb", "8x8_to_rgb", "16x16_to_rgb"]
    return keras.Model(generator.input, [generator.get_layer(n).output for n in names])


def test_generator_output_is_the_faded_to_rgb_images():
    keras.utils.set_random_seed(0)
    gan = ProGAN(image_shape=(16, 16, 1), latent_dim=8, width=8, channel_base=64,
                 stable_images=1, fade_images=1)
    z = gan.latents(3, seed=0)
    rgb4, rgb8, rgb16 = (np.asarray(t) for t in _rgb_paths(gan.generator)(z))

    def out(lod):
        gan.set_lod(lod)
        return np.asarray(gan.generator(z, training=True))

    np.testing.assert_allclose(out(2.0), upsample(rgb4, 4), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out(1.0), upsample(rgb8, 2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out(0.0), rgb16, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out(0.25), 0.75 * rgb16 + 0.25 * upsample(rgb8, 2),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out(1.5), upsample(0.5 * rgb8 + 0.5 * upsample(rgb4, 2), 2),
                               rtol=1e-5, atol=1e-6)
    # linear in training, clipped to [-1, 1] in inference (generate, export)
    gan.set_lod(0.0)
    for w in gan.generator.get_layer("16x16_to_rgb").weights:
        w.assign(w.numpy() * 50.0)
    raw = np.asarray(gan.generator(z, training=True))
    assert np.abs(raw).max() > 1.0
    np.testing.assert_allclose(gan.generate(3, seed=0), np.clip(raw, -1, 1), rtol=1e-5, atol=1e-6)


def test_reals_are_processed_to_the_level_of_detail():
    x = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
    level1, level2 = upsample(avg_pool(x, 2), 2), upsample(avg_pool(x, 4), 4)
    np.testing.assert_allclose(process_reals(x, 0.0, 2), x, atol=1e-6)
    np.testing.assert_allclose(process_reals(x, 1.0, 2), level1, atol=1e-6)
    np.testing.assert_allclose(process_reals(x, 2.0, 2), level2, atol=1e-6)
    np.testing.assert_allclose(process_reals(x, 1.25, 2), 0.75 * level1 + 0.25 * level2, atol=1e-6)


def test_discriminator_sees_only_the_level_of_detail():
    """At lod 1 an 8x8 discriminator depends on the 2x2 averages of its input
    only: images with the same averages get the same score; at lod 0 not."""
    keras.utils.set_random_seed(1)
    gan = tiny()
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (4, 8, 8, 1)).astype("float32")
    detail = rng.uniform(-0.3, 0.3, (4, 8, 8, 1)).astype("float32")
    b = a + detail - upsample(avg_pool(detail, 2), 2)  # same 2x2 averages, other detail
    gan.set_lod(1.0)
    np.testing.assert_allclose(gan.discriminator(a), gan.discriminator(b), rtol=1e-4, atol=1e-5)
    gan.set_lod(0.0)
    assert not np.allclose(gan.discriminator(a), gan.discriminator(b), rtol=1e-3, atol=1e-4)


def test_gradients_reach_only_the_layers_in_use():
    keras.utils.set_random_seed(2)
    gan = tiny()
    z = gan.latents(4, seed=1)

    def grad_norms(lod):
        gan.set_lod(lod)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(gan.generator(z, training=True)))
        names = ["4x4_to_rgb", "8x8_to_rgb", "8x8_conv1"]
        variables = [gan.generator.get_layer(n).kernel for n in names]
        return dict(zip(names, (float(tf.norm(g)) for g in tape.gradient(loss, variables))))

    at_4x4, at_8x8, fading = grad_norms(1.0), grad_norms(0.0), grad_norms(0.5)
    assert at_4x4["4x4_to_rgb"] > 0 and at_4x4["8x8_to_rgb"] == 0 and at_4x4["8x8_conv1"] == 0
    assert at_8x8["4x4_to_rgb"] == 0 and at_8x8["8x8_to_rgb"] > 0
    assert all(v > 0 for v in fading.values())


# --------------------------------------------------------------------- training
def test_fit_moves_lod_logs_it_and_syncs_every_network(images_8x8):
    gan = tiny(seed=0, ema_decay=0.9)
    gan.compile(run_eagerly=True)  # six tiny steps run faster than the step traces
    before = [w.numpy().copy() for w in gan.generator.trainable_weights]
    # 16-image steps: lod 1 (step 0), 0.75, 0.25 (tiny schedule: stable 8, fade 32)
    history = gan.fit(dataset(images_8x8), epochs=2, verbose=0).history
    assert history["lod"] == [0.25, 0.0]
    assert all(np.isfinite(history[k]).all() for k in ("gp", "drift", "d_loss", "g_loss"))
    for network in (gan.generator, gan.discriminator, gan.ema_generator):
        assert float(network.get_layer("lod").lod.numpy()) == 0.0
    after = gan.generator.trainable_weights
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(before, after))


def test_drift_term_is_the_mean_square_real_score(images_8x8):
    keras.utils.set_random_seed(3)
    gan = tiny(seed=1)
    # learning rate 0: the weights stay, so the logged terms can be recomputed
    gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0), run_eagerly=True)
    batch = images_8x8[:16]
    logs = gan.fit(dataset(batch), epochs=1, verbose=0).history
    assert logs["lod"] == [1.0]
    real_scores = np.asarray(gan.discriminator(process_reals(batch, 1.0, 1)))
    assert logs["drift"][0] == pytest.approx(float(np.mean(real_scores**2)), rel=1e-5)
    # the term the discriminator loss gets: drift_weight * D(x)^2 per example
    term, parts = gan.discriminator_aux_loss(real_scores, None, None, None)
    np.testing.assert_allclose(term, 0.001 * real_scores[:, 0] ** 2, rtol=1e-6)
    np.testing.assert_allclose(parts["drift"], real_scores[:, 0] ** 2, rtol=1e-6)
    assert gan.penalty_names() == ["gp", "drift"]


def test_resume_mid_fade_takes_the_lod_from_the_step(images_8x8, tmp_path):
    """The schedule is a function of the step: a model restored mid-fade
    continues with the lod of an uninterrupted run, whatever its lod variable
    holds."""
    data = dataset(images_8x8)  # 3 steps of 16 images
    keras.utils.set_random_seed(4)
    straight = tiny(seed=5)
    straight.compile(run_eagerly=True)  # eager: three tiny models trace slower than they run
    h = straight.fit(data, epochs=1, verbose=0).history
    keras.utils.set_random_seed(4)
    first = tiny(seed=5)
    first.compile(run_eagerly=True)
    first.fit(data.take(1), epochs=1, verbose=0)
    path = str(tmp_path / "mid.weights.h5")
    first.save_weights(path)
    resumed = tiny(seed=99)
    resumed.compile(run_eagerly=True)
    resumed.load_weights(path)
    resumed.set_lod(0.0)  # a wrong value is overwritten by the schedule
    h2 = resumed.fit(data.skip(1), epochs=1, verbose=0).history
    assert h2["lod"] == h["lod"] == [0.25]
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_export_carries_the_level_of_detail(tmp_path):
    gan = tiny(seed=0)
    gan.set_lod(1.0)  # the 4x4 image, upsampled: 2x2 blocks
    report = kerasgan.export.export_onnx(gan, tmp_path / "g.onnx")
    assert report["parity"]["onnxruntime"] <= 1e-4
    images = OnnxGenerator(tmp_path / "g.onnx").generate(4, seed=3)
    np.testing.assert_allclose(images, gan.generate(4, seed=3), atol=1e-5)
    np.testing.assert_allclose(images, upsample(avg_pool(images, 2), 2), atol=1e-6)
    gan.set_lod(0.0)  # the final resolution has detail inside the 2x2 blocks
    full = gan.generate(4, seed=3)
    assert np.abs(full - upsample(avg_pool(full, 2), 2)).max() > 1e-3


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, message", [
    ({"image_shape": (8, 16, 1)}, "square images, got 8x16.*--resize 32"),
    ({"image_shape": (24, 24, 1)}, "power-of-two image size.*got 24x24"),
    ({"image_shape": (4, 4, 1)}, "at least 8"),
    ({"initial_resolution": 16}, "initial_resolution must be a power of two from 4 to"),
    ({"initial_resolution": 6}, "initial_resolution must be a power of two"),
    ({"stable_images": -1}, "stable_images must be an integer number of images"),
    ({"fade_images": 2.5}, "fade_images must be an integer number of images"),
    ({"width": 0}, "width must be an integer >= 1, got 0"),
    ({"mbstd_group_size": -2}, "mbstd_group_size must be an integer"),
    ({"drift_weight": -1.0}, "drift_weight must be ≥ 0"),
])
def test_bad_configurations_are_clear(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny(**kwargs)


def test_cli_refuses_mnist_without_resize_and_schedule_flags_elsewhere(tmp_path, capsys):
    # the bundled MNIST is 28x28: ProGAN asks for --resize 32
    assert cli.main(["train", "progan", "--out", str(tmp_path / "a")]) == 2
    assert "--resize 32" in capsys.readouterr().err
    assert cli.main(["train", "dcgan", "--stable-images", "100", "--out", str(tmp_path / "b")]) == 2
    assert "--stable-images does not apply to dcgan" in capsys.readouterr().err
    assert models.get_class("progan") is ProGAN
