"""Training health: HealthCheck stops a diverged run with a clear message, and
Diversity logs a mode-collapse signal (kerasgan.callbacks.health)."""

import csv
import math
import warnings

import numpy as np
import pytest
import tensorflow as tf
import keras

import kerasgan
from kerasgan import models
from kerasgan.callbacks import (Diversity, HealthCheck, ModeCollapseWarning, TrainingDiverged,
                                diversity)
from kerasgan.callbacks.health import DEFAULT_WARN_BELOW, term_network


def tiny(name, **overrides):
    cls = models.get_class(name)
    return cls(**dict(cls.tiny_config, **overrides))


def dataset(images, batch_size=16):
    labels = np.arange(len(images)) % 3
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size,
                                                                      drop_remainder=True)


def kernel(network):
    return next(v for v in network.trainable_variables if v.path.endswith("kernel"))


class Poison(keras.callbacks.Callback):
    """Makes ``target()`` (a variable) NaN just before global step ``step`` runs,
    or right after it (``after=True``, so before the callbacks that follow)."""

    def __init__(self, target, step, after=False, value=np.nan):
        super().__init__()
        self.target, self.step, self.after, self.value = target, step, after, value
        self.seen = 0

    def _poison(self):
        v = self.target()
        v.assign(np.full(v.shape, self.value, dtype=v.dtype))

    def on_train_batch_begin(self, batch, logs=None):
        if not self.after and self.seen + 1 == self.step:
            self._poison()

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.after and self.seen == self.step:
            self._poison()


class Recorder(keras.callbacks.Callback):
    """Stands for a backup callback placed after HealthCheck."""

    def __init__(self):
        super().__init__()
        self.batches = 0
        self.saved_epochs = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1

    def on_epoch_end(self, epoch, logs=None):
        self.saved_epochs.append(epoch + 1)


def fit_until_diverged(gan, images, callbacks, epochs=3, steps=2):
    with pytest.raises(TrainingDiverged) as info:
        gan.fit(dataset(images).repeat(), epochs=epochs, steps_per_epoch=steps, verbose=0,
                callbacks=callbacks)
    return info.value


# --------------------------------------------------------------------- HealthCheck


def test_nan_in_the_discriminator_stops_at_that_step_before_later_callbacks(images_8x8):
    keras.utils.set_random_seed(0)
    gan = tiny("dcgan", seed=0)
    gan.compile()
    after = Recorder()
    # NaN enters a discriminator kernel just before step 3 (epoch 2, batch 1):
    # that step's losses and both networks' updates become NaN
    poison = Poison(lambda: kernel(gan.discriminator), step=3)
    err = fit_until_diverged(gan, images_8x8, [poison, HealthCheck(), after])
    first = str(err).splitlines()[0]
    assert int(gan.g_optimizer.iterations) == 3 == err.step
    assert first.startswith("training diverged at step 3 (epoch 2, batch 1): ")
    assert "d_loss is nan (discriminator)" in first
    assert "the discriminator has non-finite weights (down0/kernel" in first
    assert err.epoch == 2 and err.batch == 1
    assert math.isnan(err.terms["d_loss"]) and "discriminator" in err.networks
    assert "down0/kernel" in err.variables["discriminator"]
    # the callback after HealthCheck never saw the diverged step nor epoch 2's end
    assert after.batches == 2 and after.saved_epochs == [1]
    message = str(err)
    assert "lower the discriminator's learning rate (d_optimizer learning_rate is 0.0002)" in message
    assert "the last good backup (end of epoch 1, if the run keeps backups) is untouched" in message


@pytest.mark.parametrize("part,target,expected", [
    ("discriminator", lambda g: kernel(g.discriminator), "the discriminator has non-finite weights"),
    ("generator", lambda g: kernel(g.generator), "the generator has non-finite weights"),
    ("discriminator optimizer", lambda g: g.d_optimizer.variables[-1],
     "the discriminator optimizer has non-finite state"),
])
def test_the_message_names_the_network_and_variable(part, target, expected, images_8x8):
    gan = tiny("dcgan", seed=0)
    gan.compile()
    # NaN written right after step 2, before HealthCheck looks: only that part is bad
    err = fit_until_diverged(gan, images_8x8, [Poison(lambda: target(gan), step=2, after=True),
                                               HealthCheck()])
    first = str(err).splitlines()[0]
    assert first.startswith("training diverged at step 2 (epoch 1, batch 2): ")
    assert err.step == int(gan.g_optimizer.iterations) == 2
    assert list(err.variables) == [part]
    assert err.variables[part] == [target(gan).path]
    assert f"{expected} ({target(gan).path})" in first
    assert not err.terms  # the losses of step 2 were still finite
    network = part.split()[0]
    assert err.networks == [network]
    other = "generator" if network == "discriminator" else "discriminator"
    assert other not in first


@pytest.mark.parametrize("term,network", [("g_loss", "generator"), ("d_loss", "discriminator")])
def test_inf_in_a_loss_names_the_term_and_its_network(term, network, images_8x8):
    bump = tf.Variable(0.0, trainable=False)
    g_fn = kerasgan.losses.get("non_saturating", "generator")
    d_fn = kerasgan.losses.get("non_saturating", "discriminator")
    losses = {"g_loss": lambda fake: g_fn(fake), "d_loss": lambda real, fake: d_fn(real, fake)}
    if term == "g_loss":
        losses["g_loss"] = lambda fake: g_fn(fake) + bump
    else:
        losses["d_loss"] = lambda real, fake: d_fn(real, fake) + bump

    class Bump(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if int(gan.g_optimizer.iterations) == 3:  # before step 4
                bump.assign(np.inf)

    gan = tiny("dcgan", seed=0)
    gan.compile(g_loss=losses["g_loss"], d_loss=losses["d_loss"])
    err = fit_until_diverged(gan, images_8x8, [Bump(), HealthCheck()], epochs=4)
    first = str(err).splitlines()[0]
    assert err.step == int(gan.g_optimizer.iterations) == 4
    assert first == (f"training diverged at step 4 (epoch 2, batch 2): {term} is inf ({network}); "
                     "all weights are still finite")
    assert err.terms == {term: math.inf} and err.networks == [network]


def test_a_huge_learning_rate_diverges_and_is_caught_at_the_first_bad_step(images_8x8):
    keras.utils.set_random_seed(1)
    gan = tiny("dcgan", seed=1)
    gan.compile(keras.optimizers.Adam(1e-4), keras.optimizers.SGD(1e15))
    steps = []

    class Watch(keras.callbacks.Callback):  # placed before HealthCheck
        def on_train_batch_end(self, batch, logs=None):
            steps.append(int(gan.g_optimizer.iterations))

    err = fit_until_diverged(gan, images_8x8, [Watch(), HealthCheck()], epochs=20, steps=3)
    # HealthCheck looked after every step and raised at the first bad one
    assert err.step == int(gan.g_optimizer.iterations) == steps[-1] == len(steps)
    assert str(err).startswith(f"training diverged at step {err.step} ")
    # the blown-up discriminator is named: non-finite, or finite but huge (then
    # the generator's overflowing gradients are what turned NaN)
    assert "discriminator" in err.networks
    if "discriminator" not in err.variables:
        value, path = err.exploded["discriminator"]
        assert value > 1e4
        assert f"the discriminator's weights are finite but huge ({path} reaches" in str(err)
    assert "d_optimizer learning_rate is 1e+15" in str(err)


def test_a_healthy_run_is_not_stopped_and_checks_at_the_chosen_rate(images_8x8):
    gan = tiny("sngan", seed=0, ema_decay=0.9)
    gan.compile()
    check = HealthCheck(check_every=2)
    history = gan.fit(dataset(images_8x8), epochs=2, verbose=0, callbacks=[check])
    assert len(history.history["g_loss"]) == 2
    # 3 batches per epoch: weights checked after batches 2, 4, 6 and at the end
    # of epoch 1 (epoch 2 ends right after the check of batch 6)
    assert check.weight_checks == 4
    # the check covers both networks, the EMA generator and both optimizers' slots
    parts = dict(check.parts)
    assert set(parts) == {"generator", "discriminator", "EMA generator", "generator optimizer",
                          "discriminator optimizer"}
    assert len(parts["discriminator optimizer"]) > len(gan.discriminator.trainable_variables)


def test_weights_are_checked_at_epoch_end_even_between_checks(images_8x8):
    gan = tiny("dcgan", seed=0, ema_decay=0.9)
    gan.compile()
    after = Recorder()
    # a NaN in the EMA generator changes no loss: found by the epoch-end check
    err = fit_until_diverged(
        gan, images_8x8,
        [Poison(lambda: gan.ema_generator.weights[0], step=1, after=True),
         HealthCheck(check_every=0), after])
    assert str(err).startswith("training diverged at step 2 (end of epoch 1): the EMA generator "
                               f"has non-finite weights ({gan.ema_generator.weights[0].path})")
    assert err.batch is None and err.networks == ["generator"]
    assert after.saved_epochs == []  # no backup of the bad state
    assert "no epoch had completed" in str(err)


def test_loss_scale_optimizer_state_is_checked(images_8x8):
    gan = tiny("dcgan", seed=0)
    gan.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(2e-4)),
                keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(2e-4)))
    slot = gan.g_optimizer.inner_optimizer.variables[-1]
    err = fit_until_diverged(gan, images_8x8, [Poison(lambda: slot, 1, after=True), HealthCheck()])
    assert err.step == 1 and err.variables == {"generator optimizer": [slot.path]}
    assert "(g_optimizer learning_rate is 0.0002)" in str(err)


def test_under_mirrored_strategy(images_8x8, mirrored_strategy):
    with mirrored_strategy.scope():
        keras.utils.set_random_seed(0)
        gan = tiny("dcgan", seed=0)
        gan.compile()
    check = HealthCheck()
    gan.fit(dataset(images_8x8), epochs=1, verbose=0, callbacks=[check])  # healthy
    assert check.weight_checks == 3
    # a NaN kernel (on both replicas) before step 5 makes that distributed step NaN
    err = fit_until_diverged(gan, images_8x8, [Poison(lambda: kernel(gan.discriminator), step=2),
                                               HealthCheck()])
    assert err.step == int(gan.g_optimizer.iterations.numpy()) == 5
    first = str(err).splitlines()[0]
    assert first.startswith("training diverged at step 5 (epoch 1, batch 2): ")
    assert "d_loss is nan (discriminator)" in first
    assert "the discriminator has non-finite weights (down0/kernel" in first


def test_terms_map_to_their_networks():
    assert term_network("d_loss") == term_network("gp") == term_network("r1") == ("discriminator",)
    assert term_network("d_cls") == ("discriminator",)
    assert term_network("g_loss") == term_network("g_cls") == ("generator",)
    assert term_network("info") == ("generator", "discriminator")
    assert term_network("d_other") == ("discriminator",) and term_network("xyz") == ()


# ----------------------------------------------------------------------- Diversity


def test_diversity_statistic():
    rng = np.random.default_rng(0)
    same = np.repeat(rng.uniform(-1, 1, (1, 8, 8, 3)), 10, axis=0)
    assert diversity(same) == pytest.approx(0.0, abs=1e-6)
    # two images, constant -1 and +1: RMS distance 2
    assert diversity(np.stack([-np.ones((4, 4, 1)), np.ones((4, 4, 1))])) == pytest.approx(2.0)
    # resolution independent: uniform noise measures sqrt(2/3) ~ 0.816 at any size
    for shape in ((16, 16, 1), (64, 64, 3)):
        assert diversity(rng.uniform(-1, 1, (32, *shape))) == pytest.approx(0.8165, abs=0.01)
    # uint8 images are mapped from [0, 255]
    u8 = np.stack([np.zeros((4, 4, 1), np.uint8), np.full((4, 4, 1), 255, np.uint8)])
    assert diversity(u8) == pytest.approx(2.0)


class LogsProbe(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(logs.get("diversity"))


def test_diversity_is_logged_to_history_and_csv(images_8x8, tmp_path):
    gan = tiny("cgan", seed=0)  # conditional: labels="random"
    gan.compile()
    before, after = LogsProbe(), LogsProbe()
    div = Diversity(real_images=images_8x8, n=16, seed=3)
    path = str(tmp_path / "history.csv")
    history = gan.fit(dataset(images_8x8), epochs=2, verbose=0,
                      callbacks=[before, div, after, keras.callbacks.CSVLogger(path)])
    values = history.history["diversity"]
    assert len(values) == 2 and all(math.isfinite(v) and v > 0 for v in values)
    # the logged value is the recomputed statistic of the fixed samples
    real = images_8x8[np.sort(np.random.default_rng(3).choice(48, 16, replace=False))]
    expected = diversity(gan.generate(16, seed=3, labels="random")) / diversity(real)
    assert values[-1] == pytest.approx(expected, rel=1e-5)
    assert div.values == [(1, values[0]), (2, values[1])]
    # one shared logs dict, in list order: callbacks after Diversity see the key
    assert before.seen == [None, None] and after.seen == values
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["diversity"]) for r in rows] == pytest.approx(values)


def test_a_collapsed_generator_warns(images_8x8):
    gan = tiny("dcgan", seed=0)
    gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))
    project = kernel(gan.generator)
    project.assign(np.zeros(project.shape, "float32"))  # every latent gives one image
    div = Diversity(real_images=images_8x8, warmup_steps=0)
    with pytest.warns(ModeCollapseWarning, match=r"possible mode collapse at epoch 1 \(step 3\): "
                      r"sample diversity 0\.000 .* below 0\.25"):
        history = gan.fit(dataset(images_8x8), epochs=1, verbose=0, callbacks=[div])
    assert history.history["diversity"][0] == pytest.approx(0.0, abs=1e-4)


def test_warmup_and_drop_from_best(images_8x8):
    gan = kerasgan.GAN(keras.Sequential([keras.Input((8,)), keras.layers.Dense(64, "tanh"),
                                         keras.layers.Reshape((8, 8, 1))]),
                       models.get_class("dcgan")(**models.get_class("dcgan").tiny_config).discriminator,
                       seed=0)
    gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))

    class CollapseAtEpoch3(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                k = kernel(gan.generator)
                k.assign(k.numpy() * 0.2)

    div = Diversity(real_images=images_8x8, warn_below=None)
    with pytest.warns(ModeCollapseWarning, match=r"epoch 3 .* fell below 0\.5 x its best so far"):
        history = gan.fit(dataset(images_8x8), epochs=3, verbose=0,
                          callbacks=[CollapseAtEpoch3(), div])
    first, second, third = history.history["diversity"]
    assert first == second > DEFAULT_WARN_BELOW and third < 0.5 * first
    # before warmup_steps generator updates the absolute rule stays quiet
    quiet = Diversity(real_images=images_8x8, warn_below=0.99, warmup_steps=100, drop_fraction=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModeCollapseWarning)
        gan.fit(dataset(images_8x8), epochs=1, verbose=0, callbacks=[quiet])
    assert quiet.values[0][1] < 0.99


def test_random_init_and_trained_generators_are_above_the_threshold(images_8x8, monkeypatch,
                                                                    tmp_path):
    monkeypatch.setenv("KERASGAN_CACHE", str(tmp_path / "cache"))
    # a random-init generator with Glorot weights (not DCGAN's N(0, 0.02))
    keras.utils.set_random_seed(0)
    random_init = kerasgan.GAN(
        keras.Sequential([keras.Input((8,)), keras.layers.Dense(64, "tanh"),
                          keras.layers.Reshape((8, 8, 1))]),
        tiny("dcgan").discriminator)
    # the zoo's trained DCGAN (weights in the checkout) against real MNIST digits
    trained = models.DCGAN.from_preset("dcgan-mnist", progress=False)
    mnist = kerasgan.data.open_source("mnist-10k").images
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModeCollapseWarning)
        for gan, real, low in ((random_init, images_8x8, 0.5), (trained, mnist, 0.9)):
            div = Diversity(real_images=real, warmup_steps=0)
            div.set_model(gan)
            div.on_train_begin()
            logs = {}
            div.on_epoch_end(0, logs)
            assert logs["diversity"] > low >= 2 * DEFAULT_WARN_BELOW


def test_real_images_of_another_shape_are_refused(images_8x8):
    gan = tiny("dcgan")
    gan.compile()
    with pytest.raises(ValueError, match=r"real_images are \(8, 8, 3\) images but the generator "
                                         r"makes \(8, 8, 1\)"):
        gan.fit(dataset(images_8x8), epochs=1, verbose=0,
                callbacks=[Diversity(real_images=np.repeat(images_8x8, 3, axis=-1))])
