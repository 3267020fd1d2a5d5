"""Equalised-learning-rate layers, pixel norm and minibatch standard deviation."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasgan import precision
from kerasgan.layers import EqualizedConv2D, EqualizedDense, MinibatchStdDev, PixelNorm


def _gradients(layer, x, weights):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(x)))
    return tape.gradient(loss, weights)


@pytest.mark.parametrize("gain, lr_multiplier", [(math.sqrt(2), 1.0), (1.0, 0.01)])
def test_dense_is_a_dense_layer_with_the_runtime_scale(gain, lr_multiplier):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 12)).astype("float32")
    layer = EqualizedDense(7, lr_multiplier=lr_multiplier, gain=gain, bias_init=0.5)
    layer.build((None, 12))
    scale = gain / math.sqrt(12) * lr_multiplier
    assert layer.weight_scale == pytest.approx(scale)
    layer.bias.assign(rng.standard_normal(7).astype("float32"))
    plain = keras.layers.Dense(7)
    plain.build((None, 12))
    plain.set_weights([layer.kernel.numpy() * scale, layer.bias.numpy() * lr_multiplier])
    np.testing.assert_allclose(layer(x), plain(x), rtol=1e-5, atol=1e-5)
    # the gradient w.r.t. the stored weight is the plain layer's times the scale:
    # the equalised learning rate
    g_eq = _gradients(layer, x, [layer.kernel, layer.bias])
    g_plain = _gradients(plain, x, [plain.kernel, plain.bias])
    np.testing.assert_allclose(g_eq[0], g_plain[0] * scale, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g_eq[1], g_plain[1] * lr_multiplier, rtol=1e-4, atol=1e-6)


def test_initialisation_gives_he_variance_and_the_effective_bias():
    x = np.random.default_rng(1).standard_normal((2000, 256)).astype("float32")
    for gain, lr_multiplier in ((math.sqrt(2), 1.0), (1.0, 0.01)):
        keras.utils.set_random_seed(0)
        layer = EqualizedDense(256, lr_multiplier=lr_multiplier, gain=gain, bias_init=1.0)
        y = np.asarray(layer(x))
        # stored weights ~ N(0, 1/lr_mul^2); effective weights have He's std
        # gain / sqrt(fan_in), so the output variance is gain^2
        assert np.std(layer.kernel.numpy()) == pytest.approx(1.0 / lr_multiplier, rel=0.02)
        assert np.var(y - 1.0) == pytest.approx(gain**2, rel=0.05)
        assert np.mean(y) == pytest.approx(1.0, abs=0.05)  # bias_init is the effective bias


@pytest.mark.parametrize("padding, strides", [("same", 1), ("valid", 1), ("same", 2)])
def test_conv_is_a_convolution_with_the_runtime_scale(padding, strides):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 6, 3)).astype("float32")
    layer = EqualizedConv2D(4, 3, padding=padding, strides=strides, activation="leaky_relu")
    plain = keras.layers.Conv2D(4, 3, padding=padding, strides=strides, activation="leaky_relu")
    layer.build(x.shape)
    plain.build(x.shape)
    layer.bias.assign(rng.standard_normal(4).astype("float32"))
    scale = math.sqrt(2) / math.sqrt(3 * 3 * 3)
    plain.set_weights([layer.kernel.numpy() * scale, layer.bias.numpy()])
    out = layer(x)
    np.testing.assert_allclose(out, plain(x), rtol=1e-5, atol=1e-5)
    assert tuple(out.shape) == layer.compute_output_shape(x.shape)
    g_eq = _gradients(layer, x, [layer.kernel])[0]
    g_plain = _gradients(plain, x, [plain.kernel])[0]
    np.testing.assert_allclose(g_eq, g_plain * scale, rtol=1e-4, atol=1e-6)


def test_pixel_norm_gives_unit_rms_features():
    x = np.random.default_rng(3).standard_normal((2, 3, 3, 5)).astype("float32") * 7.0
    y = np.asarray(PixelNorm()(x))
    np.testing.assert_allclose(np.mean(y**2, axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(y, x / np.sqrt(np.mean(x**2, -1, keepdims=True) + 1e-8), rtol=1e-5)
    z = np.random.default_rng(4).standard_normal((4, 16)).astype("float32")
    np.testing.assert_allclose(np.linalg.norm(PixelNorm()(z), axis=1), 4.0, rtol=1e-5)


def _mbstd_reference(x, group, num_features):
    """Contiguous groups of ``group`` examples; one value per group and channel slice."""
    n, h, w, c = x.shape
    out = np.zeros((n, h, w, num_features), "float64")
    for start in range(0, n, group):
        members = x[start : start + group].astype("float64")
        std = np.sqrt(members.var(axis=0) + 1e-8)  # (h, w, c)
        for f, chunk in enumerate(np.split(std, num_features, axis=-1)):
            out[start : start + group, :, :, f] = chunk.mean()
    return np.concatenate([x, out.astype("float32")], axis=-1)


@pytest.mark.parametrize("batch, expected_group", [(8, 4), (6, 3), (5, 1), (2, 2)])
@pytest.mark.parametrize("num_features", [1, 2])
def test_minibatch_stddev_matches_numpy(batch, expected_group, num_features):
    x = np.random.default_rng(batch).standard_normal((batch, 3, 3, 4)).astype("float32")
    layer = MinibatchStdDev(group_size=4, num_features=num_features)
    assert layer.group(batch) == expected_group
    expected = _mbstd_reference(x, expected_group, num_features)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)
    # the same in a graph whose batch size is unknown when it is traced
    fn = tf.function(layer, input_signature=[tf.TensorSpec((None, 3, 3, 4), tf.float32)])
    np.testing.assert_allclose(fn(x), expected, rtol=1e-5, atol=1e-6)


def test_minibatch_stddev_groups_are_contiguous_so_replica_slices_agree():
    # what two replicas compute on their halves == one device on the batch
    x = np.random.default_rng(5).standard_normal((8, 2, 2, 4)).astype("float32")
    layer = MinibatchStdDev(group_size=4)
    np.testing.assert_allclose(np.concatenate([layer(x[:4]), layer(x[4:])]), layer(x), rtol=1e-6)


def test_layers_in_mixed_precision_keep_float32_variables_and_statistics():
    x = np.random.default_rng(6).standard_normal((4, 4, 4, 8)).astype("float32")
    built = {}
    for policy in ("float32", "mixed_bfloat16"):
        keras.utils.set_random_seed(0)
        with precision.policy_scope(policy):
            model = keras.Sequential([keras.Input((4, 4, 8)), EqualizedConv2D(8, 3),
                                      PixelNorm(), MinibatchStdDev(), keras.layers.Flatten(),
                                      EqualizedDense(1, gain=1.0, dtype="float32")])
        built[policy] = model
    mixed = built["mixed_bfloat16"]
    assert {str(w.dtype) for w in mixed.weights} == {"float32"}
    assert mixed.layers[0].compute_dtype == "bfloat16"
    np.testing.assert_allclose(mixed(x), built["float32"](x), rtol=0.05, atol=0.05)


def test_config_and_keras_file_round_trip(tmp_path):
    model = keras.Sequential([
        keras.Input((4, 4, 3)),
        EqualizedConv2D(4, (3, 1), lr_multiplier=0.5, gain=1.0, bias_init=0.1, padding="valid",
                        activation="leaky_relu"),
        PixelNorm(epsilon=1e-6),
        MinibatchStdDev(group_size=2, num_features=2),
        keras.layers.Flatten(),
        EqualizedDense(3, lr_multiplier=0.01, use_bias=False),
    ])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for a, b in zip(model.layers, loaded.layers):
        assert a.get_config() == b.get_config()
    x = np.random.default_rng(7).standard_normal((4, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6)
    assert loaded.layers[-1].bias is None


@pytest.mark.parametrize("build, message", [
    (lambda: EqualizedDense(0), "units must be an integer >= 1, got 0"),
    (lambda: EqualizedDense(4, lr_multiplier=0), "lr_multiplier must be a positive number"),
    (lambda: EqualizedConv2D(4, 3, padding="causal"), "padding must be 'same' or 'valid'"),
    (lambda: EqualizedConv2D(4, 0), "kernel_size must be a positive int"),
    (lambda: MinibatchStdDev(group_size=0), "group_size must be an integer >= 1, got 0"),
    (lambda: MinibatchStdDev(num_features=3)(np.zeros((2, 2, 2, 4), "float32")),
     "num_features=3 must divide the 4 input channels"),
    (lambda: MinibatchStdDev()(np.zeros((2, 4), "float32")), "expects NHWC"),
])
def test_bad_arguments_are_clear(build, message):
    with pytest.raises(ValueError, match=message):
        build()
