"""DiffAugment and ADA (kerasgan.augment): the transforms, their gradients, the
families' steps with augmentation, ADA's p under tf.distribute and on resume,
and the over-fitting signal r_t in the logs, TensorBoard and the health callbacks."""

import csv
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasgan  # noqa: F401  (registers the families)
from kerasgan import augment, models
from kerasgan.callbacks import Overfitting, OverfittingWarning
from kerasgan.callbacks.loss_curve import plot_history, split_series

from conftest import HEAVY_FAMILIES, family_data, slow_for

#: every policy on its own, the three together, and ADA at p = 1
POLICIES = ["diffaugment:color", "diffaugment:translation", "diffaugment:cutout",
            "diffaugment", "ada:p=1"]
AUGMENTING = [n for n in models.names() if models.get_class(n).augments_images]


# ------------------------------------------------------------------ specs
@pytest.mark.parametrize("spec, canonical", [
    ("diffaugment", "diffaugment:color,translation,cutout"),
    ("DiffAugment:cutout, translation", "diffaugment:translation,cutout"),
    ("ada", "ada:target=0.6"),
    ("ada:0.7", "ada:target=0.7"),
    ("ada:target=0.5,speed=1000,interval=2", "ada:target=0.5,speed=1000,interval=2"),
    ("ada:p=0.25", "ada:p=0.25"),
])
def test_specs_parse_to_one_canonical_form(spec, canonical):
    parsed = augment.parse(spec)
    assert parsed.spec == canonical
    assert augment.parse(canonical) == parsed  # the canonical form reads back the same
    assert augment.parse(None) is None and augment.parse("none") is None


@pytest.mark.parametrize("spec, expected", [
    ("blur", "unknown kind 'blur'"),
    ("diffaugment:color,zoom", "unknown DiffAugment policy 'zoom'"),
    ("ada:target=1.5", "target must be in (0, 1)"),
    ("ada:p=2", "p must be in [0, 1]"),
    ("ada:p=0.2,target=0.6", "either a fixed p or a target"),
    ("ada:speed=-5", "speed must be a positive number"),
    ("ada:fast", "target must be a number"),
])
def test_bad_specs_are_one_clear_line(spec, expected):
    with pytest.raises(ValueError) as info:
        augment.parse(spec)
    message = str(info.value)
    assert expected in message and "\n" not in message and "docs/augmentation.md" in message


@pytest.mark.parametrize("name", ["mle", "seqgan", "relgan"])
def test_a_kind_whose_discriminator_does_not_judge_images_refuses_augment(name):
    with pytest.raises(ValueError, match=f"^{name} takes no augment: its discriminator does "
                       "not judge images"):
        models.get(name, **models.get_class(name).tiny_config, augment="diffaugment")


# -------------------------------------------------------------- transforms
def _images(channels=3, n=6, size=8, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (n, size, size, channels)),
                       tf.float32)


def _apply(spec, x, seed=3):
    """``spec``'s augmentation of ``x`` with a fresh seed generator (same draws for the same seed)."""
    return augment.parse(spec)(x, keras.random.SeedGenerator(seed))


@pytest.mark.parametrize("spec", POLICIES + ["ada:p=0.5"])
@pytest.mark.parametrize("channels", [1, 3, 6])
def test_the_gradient_is_the_exact_adjoint_of_the_transform(spec, channels):
    """For fixed draws every transform is affine in the pixels: the tape's
    gradient of <w, T(x)> must equal the change of <w, T(x)> along any direction."""
    x = _images(channels)
    direction = _images(channels, seed=1)
    w = _images(channels, seed=2)
    with tf.GradientTape() as tape:
        tape.watch(x)
        inner = tf.reduce_sum(w * _apply(spec, x))
    grad = tape.gradient(inner, x)
    change = tf.reduce_sum(w * (_apply(spec, x + direction) - _apply(spec, x)))
    np.testing.assert_allclose(float(tf.reduce_sum(grad * direction)), float(change),
                               rtol=1e-4, atol=1e-3)
    assert float(tf.reduce_max(tf.abs(grad))) > 0


def test_what_each_transform_does():
    x = _images(3, n=64, size=16)
    # ADA at p = 0 is the identity, exactly
    np.testing.assert_array_equal(_apply("ada:p=0", x).numpy(), x.numpy())
    # translation moves content by whole pixels and fills with zeros
    moved = _apply("diffaugment:translation", x).numpy()
    zero_rows = np.mean(np.all(moved == 0, axis=(2, 3)))
    assert 0.05 < zero_rows < 0.2  # up to 2 of 16 rows at the top or bottom
    # cutout zeroes a square of half the side: about a quarter of the pixels
    cut = _apply("diffaugment:cutout", x).numpy()
    assert 0.1 < np.mean(np.all(cut == 0, axis=-1)) < 0.3
    # colour leaves the geometry alone: brightness, saturation and contrast
    # change pixel values, each image's ordering of pixel luminance survives
    # mostly, and the change is not zero
    coloured = _apply("diffaugment:color", x).numpy()
    assert np.abs(coloured - x.numpy()).mean() > 0.05
    # ADA at p = 1: about half the images flipped or rotated, all changed
    ada = _apply("ada:p=1", x).numpy()
    assert np.all(np.abs(ada - x.numpy()).reshape(64, -1).max(axis=1) > 1e-3)


def test_draws_are_made_for_the_global_batch():
    """A replica's rows of the augmented batch are the rows the same draws give
    the whole batch: what makes N replicas augment as one device does."""
    from kerasgan.distribute import local_slice

    x = _images(3, n=8)
    for spec in ("ada:p=0.7", "diffaugment"):
        whole = _apply(spec, x).numpy()
        # replica 1 of 2: rows 4..7 of a global batch of 8
        half = augment.parse(spec)(local_slice(x, 4, 4), keras.random.SeedGenerator(3),
                                   layout=(4, 8)).numpy()
        np.testing.assert_allclose(half, whole[4:], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------- the families
def _tiny(name, **extra):
    keras.utils.set_random_seed(5)
    gan = models.get(name, **dict(models.get_class(name).tiny_config, seed=7, **extra))
    gan.compile(run_eagerly=True)
    return gan


@pytest.mark.parametrize("spec", POLICIES)
def test_the_generator_gradient_flows_through_each_policy(spec, images_8x8):
    """One dcgan generator loss through the augmented discriminator: every
    generator variable gets a finite, non-zero gradient, and it differs from
    the un-augmented one (the augmentation is in the path)."""
    def gradients(aug):
        gan = _tiny("dcgan", augment=aug)
        z = gan.sample_latents(8)
        with tf.GradientTape() as tape:
            fake = gan.generator(z, training=True)
            loss = tf.reduce_mean(gan.g_loss_fn(gan._discriminate32(fake, None)))
        return tape.gradient(loss, gan.generator.trainable_variables)

    plain, augmented = gradients(None), gradients(spec)
    assert all(g is not None and np.isfinite(g.numpy()).all() and np.abs(g.numpy()).max() > 0
               for g in augmented)
    assert max(float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(plain, augmented)) > 1e-6


@pytest.mark.parametrize("name", slow_for(*HEAVY_FAMILIES, names=AUGMENTING))
def test_every_image_family_trains_a_step_with_ada_and_logs_r_t(name, images_8x8):
    gan = _tiny(name, augment="ada:target=0.6,speed=200,interval=1")
    data = images_8x8 if not (gan.num_classes or gan.image_conditioned) else family_data(
        name, images_8x8)
    ds = tf.data.Dataset.from_tensor_slices(data).batch(8, drop_remainder=True).take(2)
    logs = gan.fit(ds, epochs=1, verbose=0).history
    assert -1.0 <= logs["r_t"][0] <= 1.0
    # p moved by exactly global_batch * interval / speed per step (8 / 200), up or down
    p = logs["aug_p"][0]
    assert min(abs(p - allowed) for allowed in (0.0, 0.04, 0.08)) < 1e-6
    assert np.isfinite(logs["g_loss"][0]) and np.isfinite(logs["d_loss"][0])


def test_p_follows_r_t_at_the_papers_speed(images_8x8):
    """A discriminator that over-fits (r_t > target) raises p by global_batch *
    interval / speed every interval steps; the accumulator restarts each time."""
    gan = _tiny("dcgan", augment="ada:target=0.01,speed=400,interval=2")
    ds = tf.data.Dataset.from_tensor_slices(images_8x8).batch(8, drop_remainder=True)
    # make every real logit positive: r_t = 1 > 0.01
    gan.discriminator.layers[-1].bias.assign(tf.fill(gan.discriminator.layers[-1].bias.shape,
                                                     1e3))
    gan.fit(ds.take(6), epochs=1, verbose=0)
    assert np.isclose(float(gan.aug_p.numpy()), 3 * 8 * 2 / 400)  # 3 adjustments in 6 steps
    np.testing.assert_array_equal(gan.aug_stats.numpy(), [0.0, 0.0])


#: ADA starting at p = 0.5, so that p moves whichever side of the target r_t is
ADA_FROM_HALF = augment.Augmentation("ada", target=0.6, p=0.5, speed=100, interval=1)


@pytest.mark.parametrize("name, spec", [
    ("dcgan", ADA_FROM_HALF),
    pytest.param("pix2pix", "diffaugment", marks=pytest.mark.slow),
    pytest.param("stylegan2", "diffaugment:translation,cutout", marks=pytest.mark.slow),
])
def test_mirrored_equals_one_device_with_augmentation(name, spec, images_8x8,
                                                      mirrored_strategy):
    """ADA (p adapting fast) and DiffAugment on two replicas give the one-device
    run's weights, p and logs."""
    from test_distribution import _assert_replicas_agree, _assert_same_weights, _train

    single, h1 = _train(tf.distribute.OneDeviceStrategy("/cpu:0"), name, images_8x8,
                        augment=spec)
    mirrored, h2 = _train(mirrored_strategy, name, images_8x8, augment=spec)
    _assert_same_weights(single, mirrored)
    _assert_replicas_agree(mirrored)
    for key in h1:
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-5, atol=1e-6, err_msg=key)
    if spec is ADA_FROM_HALF:
        assert float(mirrored.aug_p.numpy()) != 0.5  # p moved, and moved the same
        assert float(single.aug_p.numpy()) == float(mirrored.aug_p.numpy())


@pytest.mark.slow
def test_xla_and_mixed_precision_with_augmentation(images_8x8):
    ds = tf.data.Dataset.from_tensor_slices(images_8x8).batch(8, drop_remainder=True).take(2)
    for precision_policy, jit in (("mixed_bfloat16", False), ("float32", True)):
        keras.utils.set_random_seed(5)
        gan = models.get("dcgan", **dict(models.get_class("dcgan").tiny_config,
                                         augment="ada:target=0.6,speed=100,interval=1",
                                         dtype=precision_policy))
        gan.compile(jit_compile=jit)
        logs = gan.fit(ds, epochs=1, verbose=0).history
        assert np.isfinite(logs["g_loss"][0]) and np.isfinite(logs["d_loss"][0])
        assert float(gan.aug_p.numpy()) > 0


def test_augment_and_p_are_saved_with_the_model(tmp_path, images_8x8):
    gan = _tiny("dcgan", augment="ada:target=0.6,speed=100,interval=1")
    gan.aug_p.assign(0.375)
    gan.aug_stats.assign([3.0, 8.0])
    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.augment == "ada:target=0.6,speed=100,interval=1"
    assert float(loaded.aug_p.numpy()) == 0.375
    np.testing.assert_array_equal(loaded.aug_stats.numpy(), [3.0, 8.0])
    # a model without augmentation keeps the config and weights it had before
    plain = _tiny("dcgan")
    assert "augment" not in plain.get_config() and plain.aug_p is None


# --------------------------------------------------------- seeing r_t and p
def _scalars(logdir):
    found = {}
    for root, _, files in os.walk(logdir):
        for f in sorted(files):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(root, f)):
                for value in event.summary.value:
                    if value.HasField("tensor"):
                        found.setdefault(value.tag, []).append(
                            float(tf.make_ndarray(value.tensor)))
    return found


def test_a_cli_run_logs_r_t_and_p_to_history_loss_curve_and_tensorboard(tmp_path):
    from kerasgan import cli
    from kerasgan.run import read_json

    out, tb = tmp_path / "run", tmp_path / "tb"
    code = cli.main(["train", "dcgan", "--epochs", "2", "--width", "4", "--latent-dim", "8",
                     "--batch-size", "1024", "--augment", "ADA:Target=0.2,speed=20000,interval=1",
                     "--tensorboard", str(tb), "--out", str(out), "--quiet"])
    assert code == 0
    # the canonical spec is what the run records
    assert read_json(out / "run.json")["model"]["augment"] == (
        "ada:target=0.2,speed=20000,interval=1")
    rows = list(csv.DictReader(open(out / "history.csv")))
    history = {k: [float(r[k]) for r in rows] for k in ("r_t", "aug_p")}
    assert all(-1 <= v <= 1 for v in history["r_t"]) and 0 <= history["aug_p"][-1] <= 1
    found = _scalars(tb)
    np.testing.assert_allclose(found["epoch_r_t"], history["r_t"], rtol=1e-6)
    np.testing.assert_allclose(found["epoch_aug_p"], history["aug_p"], rtol=1e-6)
    assert (out / "loss_curve.png").stat().st_size > 0


def test_the_loss_curve_draws_r_t_and_p_on_their_own_panel(tmp_path):
    history = {"epoch": [0, 1], "d_loss": [1.0, 0.9], "g_loss": [2.0, 1.5], "r_t": [0.5, 0.8],
               "aug_p": [0.0, 0.1]}
    assert split_series(history) == (["d_loss", "g_loss"], ["r_t", "aug_p"])
    path = plot_history(history, str(tmp_path / "curve.png"), target=0.6)
    from PIL import Image

    with Image.open(path) as image:  # two panels: taller than the one-panel curve
        two = image.size
    one = plot_history({"d_loss": [1.0, 0.9]}, str(tmp_path / "one.png"))
    with Image.open(one) as image:
        assert two[1] > 1.3 * image.size[1]


def _fit_with_r_t(values, callback):
    """Calls ``callback`` as fit would, with epoch logs whose r_t are ``values``."""
    class Model:
        g_optimizer = type("Opt", (), {"iterations": tf.Variable(10_000)})()

    callback.set_model(Model())
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {"r_t": value})


def test_the_overfitting_warning():
    with pytest.warns(OverfittingWarning, match=r"over-fitting at epoch 6 .* r_t = "
                      r"E\[sign\(D\(real\)\)\] = 0\.960.*--augment ada"):
        callback = Overfitting(warn_above=0.9, patience=3)
        _fit_with_r_t([0.95, 0.92, 0.5, 0.93, 0.95, 0.96], callback)
    assert callback.warned_at == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # healthy: no warning
        _fit_with_r_t([0.5, 0.95, 0.95, 0.6, 0.7], Overfitting(warn_above=0.9, patience=3))


# ------------------------------------------------------------- resume
# Exact resume of ADA's p: the preemption tests of tests/test_resume.py train
# with --augment ada (its ARGS), so a SIGKILL mid-epoch, a kill inside a backup
# write, a damaged backup and a SIGTERM must each end with the same p, p's
# accumulator, weights and history.csv (r_t, aug_p) as the uninterrupted run.


def test_cli_refuses_a_bad_augment_before_reading_data(tmp_path, capsys):
    from kerasgan import cli

    out = tmp_path / "run"
    code = cli.main(["train", "dcgan", "--data", str(tmp_path / "missing.npz"), "--augment",
                     "ada:fast", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["kerasgan: error: augment 'ada:fast': target must be a number, got 'fast'; "
                   "use one of diffaugment[:color,translation,cutout], ada[:target], ada:p=P "
                   "(docs/augmentation.md)"]
    assert not out.exists()
