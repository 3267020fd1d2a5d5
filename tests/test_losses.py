"""Losses and penalties against values computed by hand."""

import math

import numpy as np
import pytest
import tensorflow as tf
import keras

from kerasgan import losses, penalties

R = np.array([[2.0], [-1.0], [0.5]], dtype="float32")  # real logits
F = np.array([[-3.0], [0.0], [1.5]], dtype="float32")  # fake logits


def sp(x):
    return math.log1p(math.exp(x))


def hand(name):
    r, f = R[:, 0].tolist(), F[:, 0].tolist()
    if name == "minimax":
        d = [sp(-a) + sp(b) for a, b in zip(r, f)]
        g = [-sp(b) for b in f]  # log(1 - sigmoid(b)) = -softplus(b)
    elif name == "non_saturating":
        d = [sp(-a) + sp(b) for a, b in zip(r, f)]
        g = [sp(-b) for b in f]  # -log(sigmoid(b))
    elif name == "hinge":
        d = [max(0.0, 1 - a) + max(0.0, 1 + b) for a, b in zip(r, f)]
        g = [-b for b in f]
    elif name == "wasserstein":
        d = [b - a for a, b in zip(r, f)]
        g = [-b for b in f]
    elif name == "least_squares":
        d = [0.5 * (a - 1) ** 2 + 0.5 * b**2 for a, b in zip(r, f)]
        g = [0.5 * (b - 1) ** 2 for b in f]
    return np.array(g), np.array(d)


@pytest.mark.parametrize("name", losses.names())
def test_loss_pair_matches_hand_computation(name):
    g_fn, d_fn = losses.get_pair(name)
    g_expected, d_expected = hand(name)
    np.testing.assert_allclose(np.asarray(g_fn(F)), g_expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(d_fn(R, F)), d_expected, rtol=1e-6, atol=1e-6)


def test_minimax_values_from_probabilities():
    # -log D(x) - log(1 - D(G(z))) with D = sigmoid: D(x)=0.5, D(G(z))=0.5 -> 2 log 2.
    d = losses.minimax_discriminator_loss(np.zeros((1, 1)), np.zeros((1, 1)))
    assert float(d[0]) == pytest.approx(2 * math.log(2), rel=1e-6)


def test_patch_logits_are_averaged_per_example():
    real = np.stack([np.full((2, 2, 1), 2.0), np.full((2, 2, 1), -1.0)]).astype("float32")
    fake = np.zeros_like(real)
    d = np.asarray(losses.hinge_discriminator_loss(real, fake))
    # example 0: relu(1-2)=0, +relu(1+0)=1 ; example 1: relu(1+1)=2, +1
    np.testing.assert_allclose(d, [1.0, 3.0])


def test_unknown_loss_name_is_clear():
    with pytest.raises(ValueError, match="unknown GAN loss 'hing'.*hinge"):
        losses.get("hing", "generator")


def _linear_discriminator(weights):
    """D(x) = <w, x> + b: its input gradient is w for every example."""
    inputs = keras.Input((2, 2, 1))
    flat = keras.layers.Flatten()(inputs)
    dense = keras.layers.Dense(1)
    model = keras.Model(inputs, dense(flat))
    dense.set_weights([np.array(weights, "float32").reshape(4, 1), np.array([0.3], "float32")])
    return model


def test_gradient_penalty_by_hand():
    d = _linear_discriminator([3.0, 0.0, 4.0, 0.0])  # ||w|| = 5
    real = np.random.RandomState(0).normal(size=(3, 2, 2, 1)).astype("float32")
    fake = np.random.RandomState(1).normal(size=(3, 2, 2, 1)).astype("float32")
    gp = penalties.gradient_penalty(d, real, fake, np.array([0.1, 0.5, 0.9]))
    np.testing.assert_allclose(gp.numpy(), [16.0, 16.0, 16.0], rtol=1e-5)  # (5 - 1)^2


def test_gradient_penalty_is_per_example_for_a_nonlinear_critic():
    # D(x) = sum(x^2): grad = 2 x_hat, so the penalty is (2 ||x_hat|| - 1)^2 per example.
    inputs = keras.Input((2, 2, 1))
    model = keras.Model(inputs, keras.ops.sum(keras.ops.square(inputs), axis=(1, 2, 3))[:, None])
    real = np.random.RandomState(0).normal(size=(4, 2, 2, 1)).astype("float32")
    fake = np.random.RandomState(1).normal(size=(4, 2, 2, 1)).astype("float32")
    eps = np.array([0.0, 0.25, 0.5, 1.0], "float32")
    x_hat = eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake
    expected = (2 * np.linalg.norm(x_hat.reshape(4, -1), axis=1) - 1) ** 2
    gp = penalties.gradient_penalty(model, real, fake, eps)
    np.testing.assert_allclose(gp.numpy(), expected, rtol=1e-5)


def test_r1_penalty_by_hand():
    d = _linear_discriminator([1.0, 2.0, 2.0, 0.0])  # ||w||^2 = 9
    real = np.zeros((2, 2, 2, 1), "float32")
    np.testing.assert_allclose(penalties.r1_penalty(d, real).numpy(), [9.0, 9.0], rtol=1e-6)


def test_gradient_penalty_has_gradients_for_the_critic():
    d = _linear_discriminator([3.0, 0.0, 4.0, 0.0])
    real = tf.ones((2, 2, 2, 1))
    with tf.GradientTape() as tape:
        gp = tf.reduce_mean(penalties.gradient_penalty(d, real, -real, tf.constant([0.5, 0.5])))
    grads = tape.gradient(gp, d.trainable_variables)
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * w / 5
    np.testing.assert_allclose(grads[0].numpy().ravel(), 1.6 * np.array([3.0, 0, 4.0, 0]), rtol=1e-5)
