"""kerasgan.layers: spectral normalisation as a reparametrisation, conditional BN."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from kerasgan.layers import (
    ConditionalBatchNormalization,
    SNConv2D,
    SNDense,
    SNEmbedding,
    power_iterate,
    spectral_norm_layers,
)


def _svd_max(matrix):
    return float(np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)[0])


def _matrix(layer):
    """W_mat: the raw weight reshaped to (-1, out_features)."""
    w = layer._sn_variable().numpy()
    return w.reshape(-1, w.shape[-1])


def _set_spectrum(layer, top=3.0, seed=0):
    """Gives the raw weight a known spectrum (top singular value ``top``, gap 2x)."""
    variable = layer._sn_variable()
    rows, cols = _matrix(layer).shape
    rng = np.random.RandomState(seed)
    q1, _ = np.linalg.qr(rng.randn(rows, rows))
    q2, _ = np.linalg.qr(rng.randn(cols, cols))
    k = min(rows, cols)
    s = np.linspace(top / 2, 0.1, k)
    s[0] = top
    m = q1[:, :k] @ np.diag(s) @ q2[:, :k].T
    variable.assign(m.reshape(variable.shape).astype("float32"))


def _built(kind, **kwargs):
    if kind == "dense":
        layer = SNDense(6, **kwargs)
        layer(np.zeros((2, 10), "float32"))
    elif kind == "conv":
        layer = SNConv2D(5, 3, strides=2, padding="same", **kwargs)
        layer(np.zeros((2, 8, 8, 4), "float32"))
    else:
        layer = SNEmbedding(7, 9, **kwargs)
        layer(np.zeros((2,), "int32"))
    return layer


KINDS = ["dense", "conv", "embedding"]


# -- spectral normalisation: values ---------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_sigma_matches_largest_singular_value(kind):
    layer = _built(kind, power_iterations=10)
    # Already close after the build-time iterations on the random kernel.
    assert abs(float(layer.sigma()) - _svd_max(_matrix(layer))) < 0.05 * _svd_max(_matrix(layer))
    _set_spectrum(layer, top=3.0)
    for _ in range(5):
        layer.power_iteration()
    assert abs(float(layer.sigma()) - 3.0) < 1e-4 * 3.0
    assert abs(float(layer.sigma()) - _svd_max(_matrix(layer))) < 1e-4 * 3.0
    # the same on the layer's own random kernel, with enough iterations
    layer = _built(kind, power_iterations=200)
    for _ in range(10):
        layer.power_iteration()
    expected = _svd_max(_matrix(layer))
    assert abs(float(layer.sigma()) - expected) < 1e-4 * expected


@pytest.mark.parametrize("kind", KINDS)
def test_normalized_weight_has_unit_spectral_norm(kind):
    layer = _built(kind, power_iterations=10)
    _set_spectrum(layer, top=0.37, seed=1)
    for _ in range(5):
        layer.power_iteration()
    w_sn = keras.ops.convert_to_numpy(layer.normalized_weight())
    assert w_sn.shape == tuple(layer._sn_variable().shape)
    assert abs(_svd_max(w_sn.reshape(-1, w_sn.shape[-1])) - 1.0) < 1e-4
    # the trainable variable is still the raw W
    assert abs(_svd_max(_matrix(layer)) - 0.37) < 1e-4


def test_uv_convention():
    layer = _built("dense")
    w = _matrix(layer)
    u, v = layer.u.numpy(), layer.v.numpy()
    assert u.shape == (10,) and v.shape == (6,)
    np.testing.assert_allclose(np.linalg.norm(u), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(v), 1.0, rtol=1e-5)
    # v = normalize(W^T u), and sigma = u^T W v
    np.testing.assert_allclose(v, w.T @ u / np.linalg.norm(w.T @ u), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(float(layer.sigma()), u @ w @ v, rtol=1e-5)
    layer.power_iteration()
    u2, v2 = layer.u.numpy(), layer.v.numpy()
    np.testing.assert_allclose(v2, w.T @ u / np.linalg.norm(w.T @ u), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(u2, w @ v2 / np.linalg.norm(w @ v2), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv_forward_equals_parent_with_normalized_kernel(padding):
    x = np.random.RandomState(0).randn(3, 9, 9, 4).astype("float32")
    config = dict(filters=5, kernel_size=3, strides=2, padding=padding, activation="relu")
    sn = SNConv2D(**config, bias_initializer="random_normal")
    y = sn(x)
    reference = keras.layers.Conv2D(**config)
    reference.build(x.shape)
    w = sn.kernel.numpy()
    sigma = float(sn.sigma())
    reference.kernel.assign(w / sigma)
    reference.bias.assign(sn.bias.numpy())
    np.testing.assert_allclose(y, reference(x), rtol=1e-5, atol=1e-5)
    assert y.shape == reference(x).shape == sn.compute_output_shape(x.shape)
    # a dilated, unbiased variant
    sn = SNConv2D(4, 3, dilation_rate=2, use_bias=False)
    y = sn(x)
    reference = keras.layers.Conv2D(4, 3, dilation_rate=2, use_bias=False)
    reference.build(x.shape)
    reference.kernel.assign(sn.kernel.numpy() / float(sn.sigma()))
    np.testing.assert_allclose(y, reference(x), rtol=1e-5, atol=1e-5)


def test_dense_and_embedding_forward_equal_parent_with_normalized_weight():
    x = np.random.RandomState(1).randn(4, 10).astype("float32")
    sn = SNDense(6, activation="tanh", bias_initializer="random_normal")
    y = sn(x)
    reference = keras.layers.Dense(6, activation="tanh")
    reference.build(x.shape)
    reference.kernel.assign(sn.kernel.numpy() / float(sn.sigma()))
    reference.bias.assign(sn.bias.numpy())
    np.testing.assert_allclose(y, reference(x), rtol=1e-5, atol=1e-6)
    # 3-D input, as keras.layers.Dense
    x3 = np.random.RandomState(2).randn(2, 3, 10).astype("float32")
    np.testing.assert_allclose(sn(x3), reference(x3), rtol=1e-5, atol=1e-6)

    embed = SNEmbedding(7, 9)
    ids = np.array([[0, 6], [3, 3]])
    embed.build()
    table = embed.embeddings.numpy() / float(embed.sigma())
    np.testing.assert_allclose(embed(ids), table[ids], rtol=1e-6, atol=1e-7)


# -- spectral normalisation: gradients -----------------------------------


def _reference_dense(w, b, u, v, x):
    """Independent TF implementation of x @ (W / sigma(W)) + b, u and v fixed."""
    sigma = tf.tensordot(u, tf.linalg.matvec(w, v), 1)
    return tf.matmul(x, w / sigma) + b


def test_gradient_flows_through_sigma():
    rng = np.random.RandomState(3)
    x = rng.randn(5, 10).astype("float32")
    r = rng.randn(5, 6).astype("float32")
    layer = SNDense(6, bias_initializer="random_normal")
    layer(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=True) * r)
    g_kernel, g_bias = tape.gradient(loss, [layer.kernel, layer.bias])

    w = tf.Variable(layer.kernel.numpy())
    b = tf.constant(layer.bias.numpy())
    u, v = tf.constant(layer.u.numpy()), tf.constant(layer.v.numpy())
    with tf.GradientTape() as tape:
        ref_loss = tf.reduce_sum(_reference_dense(w, b, u, v, x) * r)
    g_ref = tape.gradient(ref_loss, w)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(g_kernel, g_ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g_bias, r.sum(0), rtol=1e-5, atol=1e-6)

    # Without the sigma term (sigma a constant) the gradient would differ.
    with tf.GradientTape() as tape:
        sigma = tf.stop_gradient(tf.tensordot(u, tf.linalg.matvec(w, v), 1))
        const_loss = tf.reduce_sum((tf.matmul(x, w / sigma) + b) * r)
    g_const = tape.gradient(const_loss, w)
    assert np.abs(g_kernel - g_const).max() > 1e-3

    # Central finite differences on a few entries of W (float64 reference).
    def f(w64):
        sigma = u.numpy().astype(np.float64) @ w64 @ v.numpy().astype(np.float64)
        return np.sum((x.astype(np.float64) @ (w64 / sigma) + b.numpy()) * r)

    w64 = layer.kernel.numpy().astype(np.float64)
    for i, j in [(0, 0), (3, 2), (9, 5)]:
        e = np.zeros_like(w64)
        e[i, j] = 1e-5
        fd = (f(w64 + e) - f(w64 - e)) / 2e-5
        np.testing.assert_allclose(g_kernel.numpy()[i, j], fd, rtol=1e-3, atol=1e-4)


def test_conv_gradient_matches_reference():
    rng = np.random.RandomState(4)
    x = rng.randn(2, 6, 6, 3).astype("float32")
    layer = SNConv2D(4, 3, strides=2, padding="same", use_bias=False)
    r = rng.randn(*layer.compute_output_shape(x.shape)).astype("float32")
    layer(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * r)
    g = tape.gradient(loss, layer.kernel)
    w = tf.Variable(layer.kernel.numpy())
    u, v = tf.constant(layer.u.numpy()), tf.constant(layer.v.numpy())
    with tf.GradientTape() as tape:
        sigma = tf.tensordot(u, tf.linalg.matvec(tf.reshape(w, (-1, 4)), v), 1)
        y = tf.nn.conv2d(x, w / sigma, strides=2, padding="SAME")
        ref_loss = tf.reduce_sum(y * r)
    np.testing.assert_allclose(g, tape.gradient(ref_loss, w), rtol=1e-4, atol=1e-6)


# -- spectral normalisation: when u and v change --------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_forward_never_updates_uv(kind):
    layer = _built(kind)
    u0, v0, w0 = layer.u.numpy().copy(), layer.v.numpy().copy(), layer._sn_variable().numpy().copy()
    x = {"dense": np.ones((2, 10), "float32"), "conv": np.ones((2, 8, 8, 4), "float32"), "embedding": np.array([1, 2])}[kind]
    traced = tf.function(lambda x: layer(x, training=True))
    for _ in range(3):
        layer(x, training=True)
        layer(x, training=False)
        layer(x)
        traced(x)
    np.testing.assert_array_equal(layer.u.numpy(), u0)
    np.testing.assert_array_equal(layer.v.numpy(), v0)
    np.testing.assert_array_equal(layer._sn_variable().numpy(), w0)  # no write-back
    # power_iteration does change them (away from the built-in estimate on a new W)
    _set_spectrum(layer, top=2.0, seed=5)
    layer.power_iteration()
    assert np.abs(layer.u.numpy() - u0).max() > 1e-3
    assert np.abs(layer.v.numpy() - v0).max() > 1e-3
    np.testing.assert_array_equal(layer._sn_variable().numpy(), _matrix(layer).reshape(w0.shape))


def _discriminator(name="d"):
    inner = keras.Sequential([keras.Input((4, 4, 3)), SNConv2D(4, 3, strides=2, padding="same")], name=f"{name}_inner")
    images = keras.Input((8, 8, 3))
    labels = keras.Input((), dtype="int32")
    h = SNConv2D(3, 3, strides=2, padding="same", name=f"{name}_conv")(images)
    h = inner(h)
    h = keras.layers.Flatten()(h)
    out = SNDense(1, name=f"{name}_dense")(h)
    proj = keras.ops.sum(SNEmbedding(3, 16, name=f"{name}_embed")(labels) * h, axis=-1, keepdims=True)
    return keras.Model([images, labels], out + proj, name=name)


def test_power_iterate_finds_nested_layers_once_per_call():
    model = _discriminator()
    layers = spectral_norm_layers(model)
    assert sorted(type(layer).__name__ for layer in layers) == ["SNConv2D", "SNConv2D", "SNDense", "SNEmbedding"]
    assert spectral_norm_layers([model, model]) == layers  # shared layers once
    rng = np.random.RandomState(0)
    for layer in layers:  # move u off the converged build-time estimate
        layer.u.assign(rng.randn(*layer.u.shape).astype("float32"))
    before = [layer.u.numpy().copy() for layer in layers]
    assert power_iterate(model) == 4
    after = [layer.u.numpy() for layer in layers]
    assert all(np.abs(a - b).max() > 0 for a, b in zip(after, before))
    assert power_iterate(keras.layers.Dense(3)) == 0
    with pytest.raises(TypeError):
        power_iterate("not a model")
    with pytest.raises(ValueError, match="built"):
        power_iterate(SNDense(2))


def test_train_step_under_xla_updates_uv_once_per_step():
    model = _discriminator()
    optimizer = keras.optimizers.Adam(1e-3)
    images = np.random.RandomState(0).randn(4, 8, 8, 3).astype("float32")
    labels = np.array([0, 1, 2, 0])
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=True)
    def step(images, labels):
        n = power_iterate(model)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.softplus(-model([images, labels], training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss, n

    dense = model.get_layer("d_dense")
    u_prev = dense.u.numpy().copy()
    for _ in range(3):
        kernel = dense.kernel.numpy().copy()
        u_expected = dense.u.numpy()
        # one iteration from the current u, on the kernel before the update
        v_expected = kernel.T @ u_expected / np.linalg.norm(kernel.T @ u_expected)
        u_expected = kernel @ v_expected / np.linalg.norm(kernel @ v_expected)
        _, n = step(images, labels)
        assert int(n) == 4
        np.testing.assert_allclose(dense.u.numpy(), u_expected, rtol=1e-4, atol=1e-6)
        assert np.abs(dense.kernel.numpy() - kernel).max() > 0  # optimizer changed W, not SN
    assert np.abs(dense.u.numpy() - u_prev).max() > 0


# -- MirroredStrategy ----------------------------------------------------


def test_power_iterate_under_mirrored_strategy(mirrored_strategy):
    strategy = mirrored_strategy
    with strategy.scope():
        keras.utils.set_random_seed(7)
        model = _discriminator("m")
        # built in scope: u and v are mirrored, only-first-replica variables
        for layer in spectral_norm_layers(model):
            assert isinstance(layer.u.value, tf.distribute.DistributedValues)
            assert layer.u.value.aggregation == tf.VariableAggregation.ONLY_FIRST_REPLICA
            assert not layer.u.trainable and not layer.v.trainable
        rng = np.random.RandomState(0)
        for layer in spectral_norm_layers(model):  # u away from its converged value
            layer.u.assign(rng.randn(*layer.u.shape).astype("float32"))
    single = _discriminator("s")
    single.set_weights(model.get_weights())  # includes u and v
    u_before = [layer.u.numpy().copy() for layer in spectral_norm_layers(single)]

    images = np.random.RandomState(1).randn(4, 8, 8, 3).astype("float32")
    labels = np.array([0, 1, 2, 1], "int32")
    # a different half of the batch on each replica
    per_replica = strategy.experimental_distribute_values_from_function(
        lambda ctx: (images[2 * ctx.replica_id_in_sync_group : 2 * ctx.replica_id_in_sync_group + 2],
                     labels[2 * ctx.replica_id_in_sync_group : 2 * ctx.replica_id_in_sync_group + 2])
    )

    @tf.function
    def step(batch):
        def replica_fn(batch):
            power_iterate(model)
            return model(list(batch), training=True)

        return strategy.run(replica_fn, args=(batch,))

    outputs = step(per_replica)
    outputs = np.concatenate([o.numpy() for o in strategy.experimental_local_results(outputs)])
    power_iterate(single)
    np.testing.assert_allclose(outputs, single([images, labels], training=True), rtol=1e-5, atol=1e-6)
    for mirrored_layer, single_layer in zip(spectral_norm_layers(model), spectral_norm_layers(single)):
        for name in ("u", "v"):
            replicas = [t.numpy() for t in getattr(mirrored_layer, name).value.values]
            assert len(replicas) == 2
            np.testing.assert_array_equal(replicas[0], replicas[1])
            np.testing.assert_allclose(replicas[0], getattr(single_layer, name).numpy(), rtol=1e-5, atol=1e-6)
    # the step did move u (once: the single-device model did one power_iterate)
    for before, layer in zip(u_before, spectral_norm_layers(model)):
        assert np.abs(layer.u.numpy() - before).max() > 1e-3


# -- serialization -------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip(kind):
    layer = _built(kind, power_iterations=3, eps=1e-10)
    config = layer.get_config()
    assert config["power_iterations"] == 3 and config["eps"] == 1e-10
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == config
    with pytest.raises(TypeError, match="power_iterations must be"):  # Keras wraps the ValueError
        type(layer).from_config({**config, "power_iterations": 0})


def test_keras_file_and_weights_round_trip(tmp_path):
    model = _discriminator()
    power_iterate(model)
    images = np.random.RandomState(2).randn(3, 8, 8, 3).astype("float32")
    labels = np.array([2, 0, 1])
    expected = model.predict([images, labels], verbose=0)

    path = str(tmp_path / "d.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict([images, labels], verbose=0), expected)
    for a, b in zip(spectral_norm_layers(model), spectral_norm_layers(loaded)):
        assert type(a) is type(b)
        np.testing.assert_array_equal(a.u.numpy(), b.u.numpy())
        np.testing.assert_array_equal(a.v.numpy(), b.v.numpy())
        assert b.get_config() == a.get_config()

    weights = str(tmp_path / "d.weights.h5")
    model.save_weights(weights)
    other = _discriminator()
    other.load_weights(weights)
    np.testing.assert_array_equal(other.predict([images, labels], verbose=0), expected)
    for a, b in zip(spectral_norm_layers(model), spectral_norm_layers(other)):
        np.testing.assert_array_equal(a.u.numpy(), b.u.numpy())
        np.testing.assert_array_equal(a.v.numpy(), b.v.numpy())


def test_loads_plain_layer_weights():
    plain = keras.layers.Dense(6)
    plain.build((None, 10))
    store = {}
    plain.save_own_variables(store)
    layer = _built("dense", power_iterations=20)
    layer.load_own_variables(store)
    np.testing.assert_array_equal(layer.kernel.numpy(), plain.kernel.numpy())
    # u, v re-estimated for the new kernel
    layer.power_iteration()
    expected = _svd_max(plain.kernel.numpy())
    assert abs(float(layer.sigma()) - expected) < 1e-3 * expected
    with pytest.raises(ValueError, match="expected 4 variables"):
        layer.load_own_variables({"0": plain.kernel.numpy()})


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        SNDense(3, power_iterations=0)
    with pytest.raises(ValueError):
        SNConv2D(3, 3, eps=0.0)
    with pytest.raises(ValueError):
        SNDense(3, lora_rank=2)
    with pytest.raises(ValueError):
        SNEmbedding(3, 4, weights=[np.zeros((3, 4))])


# -- conditional batch normalisation --------------------------------------


def _cbn_with_params(num_classes=3, channels=4, seed=0):
    rng = np.random.RandomState(seed)
    layer = ConditionalBatchNormalization(num_classes)
    layer.build([(None, 5, 5, channels), (None,)])
    gamma = rng.uniform(0.5, 2.0, (num_classes, channels)).astype("float32")
    beta = rng.randn(num_classes, channels).astype("float32")
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    return layer, gamma, beta


def test_cbn_matches_hand_computation():
    layer, gamma, beta = _cbn_with_params()
    x = np.random.RandomState(1).randn(6, 5, 5, 4).astype("float32") * 3 + 1
    labels = np.array([0, 1, 2, 2, 1, 0])
    mean = x.mean(axis=(0, 1, 2))
    var = x.var(axis=(0, 1, 2))
    normalized = (x - mean) / np.sqrt(var + 1e-5)
    expected = normalized * gamma[labels][:, None, None, :] + beta[labels][:, None, None, :]
    np.testing.assert_allclose(layer([x, labels], training=True), expected, rtol=1e-4, atol=1e-4)
    # labels as (batch, 1) give the same
    np.testing.assert_allclose(layer([x, labels[:, None]], training=True), expected, rtol=1e-4, atol=1e-4)
    # inference uses the moving statistics, updated with momentum 0.9 twice
    moving_mean = np.zeros(4) * 0.81 + mean * (1 - 0.81)
    np.testing.assert_allclose(layer.batch_norm.moving_mean.numpy(), moving_mean, rtol=1e-4, atol=1e-5)
    moving_var = layer.batch_norm.moving_variance.numpy()
    expected = (x - moving_mean) / np.sqrt(moving_var + 1e-5) * gamma[labels][:, None, None, :] + beta[labels][:, None, None, :]
    np.testing.assert_allclose(layer([x, labels], training=False), expected, rtol=1e-4, atol=1e-4)


def test_cbn_2d_input_and_initial_identity():
    layer = ConditionalBatchNormalization(5, synchronized=False)
    x = np.random.RandomState(2).randn(8, 6).astype("float32")
    labels = np.arange(8) % 5
    y = layer([x, labels], training=True)
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(layer.gamma.numpy(), np.ones((5, 6)))
    np.testing.assert_array_equal(layer.beta.numpy(), np.zeros((5, 6)))


def test_cbn_different_labels_give_different_outputs():
    layer, _, _ = _cbn_with_params()
    x = np.random.RandomState(3).randn(4, 5, 5, 4).astype("float32")
    a = layer([x, np.array([0, 0, 0, 0])], training=False).numpy()
    b = layer([x, np.array([1, 1, 1, 1])], training=False).numpy()
    assert np.abs(a - b).mean() > 0.1


def test_cbn_config_and_keras_round_trip(tmp_path):
    layer = ConditionalBatchNormalization(3, momentum=0.8, epsilon=1e-3, synchronized=False, name="cbn")
    config = layer.get_config()
    assert {k: config[k] for k in ("num_classes", "momentum", "epsilon", "synchronized")} == {
        "num_classes": 3, "momentum": 0.8, "epsilon": 1e-3, "synchronized": False,
    }
    assert ConditionalBatchNormalization.from_config(config).get_config() == config

    images = keras.Input((6, 6, 2))
    labels = keras.Input((1,), dtype="int32")
    h = keras.layers.Conv2D(4, 3, padding="same")(images)
    h = ConditionalBatchNormalization(3, name="cbn")([h, labels])
    model = keras.Model([images, labels], keras.layers.ReLU()(h))
    cbn = model.get_layer("cbn")
    cbn.gamma.assign(np.random.RandomState(4).rand(3, 4).astype("float32"))
    cbn.beta.assign(np.random.RandomState(5).randn(3, 4).astype("float32"))
    x = np.random.RandomState(6).randn(5, 6, 6, 2).astype("float32")
    y_labels = np.array([[0], [1], [2], [1], [0]])
    model([x, y_labels], training=True)  # move the moving statistics
    expected = model.predict([x, y_labels], verbose=0)
    path = str(tmp_path / "cbn.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict([x, y_labels], verbose=0), expected)
    np.testing.assert_array_equal(
        loaded.get_layer("cbn").batch_norm.moving_mean.numpy(), cbn.batch_norm.moving_mean.numpy()
    )


def test_cbn_synchronized_under_mirrored_strategy(mirrored_strategy):
    strategy = mirrored_strategy

    def build():
        images = keras.Input((4, 4, 3))
        labels = keras.Input((), dtype="int32")
        return keras.Model([images, labels], ConditionalBatchNormalization(3, name="cbn")([images, labels]))

    with strategy.scope():
        model = build()
    single = build()
    rng = np.random.RandomState(7)
    weights = [rng.rand(*w.shape).astype("float32") + 0.5 for w in model.get_weights()]
    model.set_weights(weights)
    single.set_weights(weights)
    x = rng.randn(4, 4, 4, 3).astype("float32") * 2 + 1
    labels = np.array([0, 2, 1, 2], "int32")
    batch = strategy.experimental_distribute_values_from_function(
        lambda ctx: (x[2 * ctx.replica_id_in_sync_group : 2 * ctx.replica_id_in_sync_group + 2],
                     labels[2 * ctx.replica_id_in_sync_group : 2 * ctx.replica_id_in_sync_group + 2])
    )

    @tf.function
    def step(batch):
        return strategy.run(lambda b: model(list(b), training=True), args=(batch,))

    outputs = np.concatenate([o.numpy() for o in strategy.experimental_local_results(step(batch))])
    # synchronized: statistics of the global batch, as one device on all of it
    np.testing.assert_allclose(outputs, single([x, labels], training=True), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        model.get_layer("cbn").batch_norm.moving_mean.numpy(),
        single.get_layer("cbn").batch_norm.moving_mean.numpy(), rtol=1e-5, atol=1e-6,
    )
