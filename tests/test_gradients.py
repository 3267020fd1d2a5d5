"""Every trainable variable of every family gets a finite, non-zero gradient.

Driven by the registry (``kerasgan.models.names()``), so a newly registered
family is covered without touching this file: each family is built from its
``tiny_config``, compiled with two recording SGD optimizers and the family's
default losses, and trained for one step on one batch of what it trains on
(images; images and labels for the conditional families; (inputs, targets) or
(low-res, high-res) pairs for the image-to-image families). The optimizers
record every gradient they are given (the step runs eagerly, so the gradients
can be read), and the test checks that

* every trainable variable of the GAN (all its generators and discriminators,
  the mapping network, InfoGAN's Q head...) was handed to an optimizer: a
  variable no optimizer updates is a network left out of the step;
* each of those gradients is finite and not all zero (a disconnected layer, a
  stop_gradient in the wrong place, a loss that does not reach a network);
* the weights moved by exactly ``-lr * gradient`` (what was recorded is what
  was applied).

Variables that legitimately get a zero gradient in this one step are listed in
``ZERO_GRADIENT`` with the reason, and checked to get exactly zero (so the list
cannot go stale silently).
"""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasgan import models

from conftest import family_data

LR = 0.01
BATCH = 8

#: family -> (regex on variable paths, why their gradient is zero in the first step)
ZERO_GRADIENT = {
    "progan": (
        r"^8x8_",
        "ProGAN's first step trains at 4x4 (the schedule's stable phase): the 8x8 "
        "blocks are not faded in yet (alpha 0), so the loss does not depend on them; "
        "test_progan_blocks_get_gradients_once_they_fade_in checks they train later",
    ),
    "wgan_gp": (
        r"^logits/bias$",
        "the critic's output bias cancels in the Wasserstein loss D(fake) - D(real) "
        "(one real and one fake example per row) and the gradient penalty depends "
        "only on the critic's input gradient: its gradient is exactly zero on every step",
    ),
}


class RecordingSGD(keras.optimizers.SGD):
    """Plain SGD that keeps every (variable, gradient) pair it applies."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.recorded = []

    def apply(self, grads, trainable_variables=None):
        variables = (self._trainable_variables if trainable_variables is None
                     else list(trainable_variables))
        grads = list(grads)
        for g, v in zip(grads, variables):
            self.recorded.append((v, None if g is None else tf.convert_to_tensor(g).numpy()))
        return super().apply(grads, trainable_variables)


class _LastStepOnly(keras.callbacks.Callback):
    """Forget what the optimizers recorded before each step: after ``fit``
    they hold the last step's gradients only."""

    def __init__(self, *optimizers):
        super().__init__()
        self.optimizers = optimizers

    def on_train_batch_begin(self, batch, logs=None):
        for optimizer in self.optimizers:
            optimizer.recorded.clear()


def train_and_record(name, steps=None):
    """A tiny ``name`` GAN after ``steps`` SGD steps on batches of 8; the
    optimizers' records of the last step; the trainable variables' values
    before that step. ``steps`` None: 1, or for a token-sequence family the
    steps that reach its first adversarial step (its earlier phases
    pre-train one network at a time)."""
    cls = models.get_class(name)
    # the initial weights must not depend on which tests ran before: SNGAN's hinge
    # loss gives its critic's output bias a zero gradient whenever every output
    # lies inside the margin, which some initial weights do
    keras.utils.set_random_seed(0)
    gan = models.get(name, **cls.tiny_config, seed=0)
    g_opt, d_opt = RecordingSGD(LR), RecordingSGD(LR)
    gan.compile(g_opt, d_opt, run_eagerly=True)
    # a phase with its own copy of an optimizer (SeqGAN's policy gradient)
    optimizers = [g_opt, d_opt] + [o for o in (getattr(gan, "pg_optimizer", None),) if o]
    assert all(isinstance(o, RecordingSGD) for o in optimizers)
    if steps is None:
        steps = 1
        if cls.spec.kind == "token_sequence":
            steps = sum(n for _, n in gan.phases() if n) + 1
    images = np.random.RandomState(0).uniform(-1, 1, (BATCH * steps, 8, 8, 1)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(family_data(name, images)).batch(BATCH)
    if steps > 1:
        gan.fit(data.take(steps - 1), epochs=1, verbose=0)
    before = {id(v): v.numpy().copy() for v in gan.trainable_variables}
    history = gan.fit(data.skip(steps - 1), epochs=1, verbose=0,
                      callbacks=[_LastStepOnly(*optimizers)]).history
    assert all(np.isfinite(v[0]) for v in history.values()), history
    return gan, [r for o in optimizers for r in o.recorded], before


def owners(gan):
    """id(variable) -> "network: path" for the error messages (two networks
    can have layers of the same name, e.g. CycleGAN's two generators)."""
    names = {}
    for layer in gan.layers:
        for v in layer.trainable_variables:
            names.setdefault(id(v), f"{layer.name}: {v.path}")
    return names


def gradients_by_variable(gan, recorded):
    grads = {id(v): [] for v in gan.trainable_variables}
    for v, g in recorded:
        assert id(v) in grads, f"an optimizer updated {v.path}, not a trainable variable of the GAN"
        grads[id(v)].append(g)
    return grads


@pytest.mark.parametrize("name", models.names())
def test_every_trainable_variable_gets_a_finite_nonzero_gradient(name):
    gan, recorded, before = train_and_record(name)
    label = owners(gan)
    grads = gradients_by_variable(gan, recorded)
    variables = gan.trainable_variables
    # the networks' own variables are among those checked
    for network in (gan.generator, gan.discriminator):
        if network is None:  # a family trained by maximum likelihood only
            continue
        assert network.trainable_variables
        assert {id(v) for v in network.trainable_variables} <= set(grads)

    zero_pattern, _reason = ZERO_GRADIENT.get(name, (None, None))
    expected_zero = [v for v in variables if zero_pattern and re.search(zero_pattern, v.path)]
    if zero_pattern:  # the listed exception matches something, or it is stale
        assert expected_zero, f"{name}: ZERO_GRADIENT pattern {zero_pattern!r} matches nothing"

    never, none, not_finite, zero, nonzero_listed = [], [], [], [], []
    for v in variables:
        gs = grads[id(v)]
        if not gs:
            never.append(label.get(id(v), v.path))
        elif any(g is None for g in gs):
            none.append(label.get(id(v), v.path))
        elif not all(np.all(np.isfinite(g)) for g in gs):
            not_finite.append(label.get(id(v), v.path))
        elif any(np.any(g != 0) for g in gs):
            if any(v is z for z in expected_zero):
                nonzero_listed.append(label.get(id(v), v.path))
        elif not any(v is z for z in expected_zero):
            zero.append(label.get(id(v), v.path))
    assert not never, f"{name}: no optimizer updated {never}"
    assert not none, f"{name}: no gradient (None) for {none}"
    assert not not_finite, f"{name}: non-finite gradient for {not_finite}"
    assert not zero, f"{name}: all-zero gradient for {zero}"
    assert not nonzero_listed, (
        f"{name}: listed in ZERO_GRADIENT but got a non-zero gradient: {nonzero_listed}")

    # what was recorded is what moved the weights (plain SGD: w -= lr * g)
    for v in variables:
        expected = before[id(v)] - LR * np.sum(grads[id(v)], axis=0)
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-5, atol=1e-7,
                                   err_msg=label.get(id(v), v.path))


def test_progan_blocks_get_gradients_once_they_fade_in():
    """The variables ZERO_GRADIENT lists for ProGAN train once the 8x8 blocks
    fade in: the tiny schedule is 8 images stable at 4x4, then 32 fading in, so
    the third step (16 images seen) is a fade-in step."""
    gan, recorded, _ = train_and_record("progan", steps=3)
    assert 0 < gan.lod_at(2 * BATCH) < gan.lod_at(0)  # fading: between 4x4 and 8x8
    label = owners(gan)
    grads = gradients_by_variable(gan, recorded)
    fading = [v for v in gan.trainable_variables if re.search(ZERO_GRADIENT["progan"][0], v.path)]
    assert fading
    for v in fading:
        assert grads[id(v)], label[id(v)]
        assert all(g is not None and np.all(np.isfinite(g)) for g in grads[id(v)]), label[id(v)]
        assert any(np.any(g != 0) for g in grads[id(v)]), label[id(v)]
