"""Conditional and stabilised families: labels, auxiliary losses, codes, spectral norm."""

import numpy as np
import pytest
import tensorflow as tf
import keras

import kerasgan
from kerasgan import layers as kg_layers
from kerasgan import models

CONDITIONAL = [n for n in models.names() if models.get_class(n).tiny_config.get("num_classes")]


def tiny(name, **overrides):
    cls = models.get_class(name)
    return cls(**dict(cls.tiny_config, **overrides))


def labelled(images, batch_size=16, num_classes=3):
    labels = np.arange(len(images)) % num_classes
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)


def test_the_conditional_families_are_registered():
    assert {"cgan", "acgan", "sngan"} <= set(CONDITIONAL)
    assert {"lsgan", "infogan"} <= set(models.names())


# ------------------------------------------------------------------ labels
@pytest.mark.parametrize("name", CONDITIONAL)
def test_labels_steer_the_generator_and_follow_the_seed_rule(name):
    gan = tiny(name, seed=0)
    for w in gan.generator.weights:  # per-class tables (conditional batch norm starts at 1, 0)
        if len(w.shape) == 2 and w.shape[0] == 3:
            w.assign(np.random.default_rng(0).normal(1, 0.5, w.shape).astype("float32"))
    a = gan.generate(4, seed=3, labels=0)
    b = gan.generate(4, seed=3, labels=[0, 0, 0, 0])
    c = gan.generate(4, seed=3, labels=2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c, atol=1e-4)
    # given labels draw nothing: z is the first standard_normal draw of the seed
    z = np.random.default_rng(3).standard_normal((4, gan.latent_dim)).astype("float32")
    direct = gan.generator([z, np.full(4, 2, "int32")], training=False)
    np.testing.assert_allclose(c, np.asarray(direct), atol=1e-6)


@pytest.mark.parametrize("labels, match", [
    (3, r"labels must be in \[0, 3\)"),
    (-1, r"labels must be in \[0, 3\)"),
    ([0.5] * 4, "labels must be integers"),
    (["a"] * 4, "labels must be integers"),
    ([0, 1], "got 2 labels for 4 images"),
])
def test_bad_labels_are_refused_clearly(labels, match):
    gan = tiny("cgan")
    with pytest.raises(ValueError, match=match):
        gan.generate(4, labels=labels)


@pytest.mark.parametrize("name", CONDITIONAL)
def test_a_missing_label_is_a_clear_error_and_random_is_explicit(name):
    gan = tiny(name)
    with pytest.raises(ValueError, match="class-conditional: pass labels="):
        gan.generate(2, seed=0)
    with pytest.raises(ValueError, match="labels must be class ids or 'random'"):
        gan.generate(2, seed=0, labels="seven")
    # "random" draws the labels from the seed, after z (the seed rule)
    rng = np.random.default_rng(4)
    z = rng.standard_normal((6, gan.latent_dim)).astype("float32")
    labels = rng.integers(0, 3, 6)
    np.testing.assert_allclose(gan.generate(6, seed=4, labels="random"),
                               gan.generate(6, seed=4, labels=labels), atol=1e-6)
    np.testing.assert_allclose(gan.generate(6, seed=4, labels=labels),
                               np.asarray(gan.generator([z, labels.astype("int32")])), atol=1e-6)


def test_labels_for_an_unconditional_family_are_refused():
    with pytest.raises(ValueError, match="unconditional"):
        tiny("dcgan").generate(2, labels=1)
    with pytest.raises(ValueError, match="unconditional"):
        tiny("sngan", num_classes=None).generate(2, labels=1)
    with pytest.raises(ValueError, match="unconditional"):
        tiny("dcgan").generate(2, labels="random")


@pytest.mark.parametrize("name", CONDITIONAL)
def test_training_a_conditional_family_without_labels_is_a_clear_error(name, images_8x8):
    gan = tiny(name)
    gan.compile()
    images_only = tf.data.Dataset.from_tensor_slices(images_8x8).batch(16)
    with pytest.raises(ValueError, match="class-conditional: the dataset must yield"):
        gan.fit(images_only.take(1), epochs=1, verbose=0)


@pytest.mark.parametrize("name", ["cgan", "acgan"])
def test_num_classes_is_validated(name):
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        tiny(name, num_classes=1)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        tiny(name, num_classes=2.5)


@pytest.mark.parametrize("name", CONDITIONAL)
def test_sample_grid_has_one_row_per_class(name):
    gan = tiny(name, seed=0)
    images, nrow = gan.sample_grid(7, seed=5)  # 3 classes x 2 (7 // 3)
    assert nrow == 2 and images.shape == (6, *gan.image_shape)
    for c in range(3):
        np.testing.assert_allclose(images[2 * c : 2 * c + 2],
                                   gan.generate(2, seed=5, labels=c), atol=1e-6)


# -------------------------------------------------------------- CGAN / ACGAN
def test_cgan_discriminator_judges_image_label_pairs():
    gan = tiny("cgan", seed=0)
    images = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 1)).astype("float32")
    out0 = gan.discriminate(images, np.zeros(4, "int32"))
    out1 = gan.discriminate(images, np.ones(4, "int32"))
    assert out0.shape == (4, 1)
    assert not np.allclose(out0, out1)
    with pytest.raises(ValueError, match="needs class labels"):
        gan.discriminate(images)


def _xent(logits, labels):
    logits = np.asarray(logits, "float64")
    logp = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1,
                           keepdims=True)) - logits.max(1, keepdims=True)
    return -logp[np.arange(len(labels)), labels]


def test_acgan_class_losses_match_a_hand_computation():
    gan = tiny("acgan", seed=0, class_weight=0.5)
    rng = np.random.default_rng(1)
    real_out = [rng.normal(size=(4, 1)), rng.normal(size=(4, 3)).astype("float32")]
    fake_out = [rng.normal(size=(4, 1)), rng.normal(size=(4, 3)).astype("float32")]
    real_labels = np.array([0, 1, 2, 0], "int32")
    fake_labels = np.array([2, 2, 1, 0], "int32")
    z = [np.zeros((4, gan.latent_dim), "float32"), fake_labels]
    d_aux, d_logs = gan.discriminator_aux_loss(real_out, fake_out, real_labels, z)
    expected = _xent(real_out[1], real_labels) + _xent(fake_out[1], fake_labels)
    np.testing.assert_allclose(d_logs["d_cls"], expected, rtol=1e-5)
    np.testing.assert_allclose(d_aux, 0.5 * expected, rtol=1e-5)
    g_aux, g_logs = gan.generator_aux_loss(fake_out, z)
    np.testing.assert_allclose(g_logs["g_cls"], _xent(fake_out[1], fake_labels), rtol=1e-5)
    assert gan.discriminator.output_shape == [(None, 1), (None, 3)]


def test_acgan_training_teaches_the_auxiliary_classifier(images_8x8):
    """Real computation: images of class c are c-dependent, so D's classifier
    must learn them; the class loss on real images falls."""
    rng = np.random.default_rng(0)
    labels = np.arange(96) % 3
    images = np.stack([np.full((8, 8, 1), -0.8 + 0.8 * c) for c in labels]).astype("float32")
    images += rng.normal(0, 0.05, images.shape).astype("float32")
    keras.utils.set_random_seed(0)
    gan = tiny("acgan", seed=0)
    gan.compile(keras.optimizers.Adam(2e-3, beta_1=0.5), keras.optimizers.Adam(2e-3, beta_1=0.5))
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    history = gan.fit(ds, epochs=10, verbose=0).history
    assert history["d_cls"][-1] < 0.7 * history["d_cls"][0]
    _, class_logits = gan.discriminator(images[:30], training=True)
    assert (np.argmax(class_logits, 1) == labels[:30]).mean() >= 0.9


# ------------------------------------------------------------------- LSGAN
def test_lsgan_uses_least_squares_on_linear_outputs():
    gan = tiny("lsgan")
    gan.compile()
    assert gan.g_loss_fn is kerasgan.losses.least_squares_generator_loss
    assert gan.d_loss_fn is kerasgan.losses.least_squares_discriminator_loss
    assert gan.discriminator.layers[-1].activation is keras.activations.linear
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(2e-4)


# ------------------------------------------------------------------ InfoGAN
def test_infogan_codes_are_explicit_inputs_and_can_be_fixed():
    gan = tiny("infogan", seed=0)
    specs = gan.generator_inputs()
    assert [s["name"] for s in specs] == ["z", "c_cat", "c_cont"]
    assert [s["sampler"] for s in specs] == ["normal", "categorical", "uniform"]
    x = gan.sample_inputs(500, seed=0)
    assert x[1].min() == 0 and x[1].max() == 2
    assert -1 <= x[2].min() < -0.9 and 0.9 < x[2].max() < 1
    a = gan.generate(3, seed=1, codes={"c_cat": 1, "c_cont": [0.2, -0.3]})
    b = gan.generate(3, seed=1, codes={"c_cat": 2, "c_cont": [0.2, -0.3]})
    assert not np.allclose(a, b, atol=1e-5)
    z = np.random.default_rng(1).standard_normal((3, gan.latent_dim)).astype("float32")
    direct = gan.generator([z, np.full(3, 1, "int32"), np.tile([[0.2, -0.3]], (3, 1))])
    np.testing.assert_allclose(a, np.asarray(direct), atol=1e-6)
    with pytest.raises(ValueError, match=r"input 'c_cat': labels must be in \[0, 3\)"):
        gan.generate(2, codes={"c_cat": 3})
    with pytest.raises(ValueError, match="unknown generator input"):
        gan.generate(2, codes={"c_style": 1})
    with pytest.raises(ValueError, match=r"'c_cont' must have shape \(2,\)"):
        gan.generate(2, codes={"c_cont": [1, 2, 3]})
    with pytest.raises(ValueError, match="NaN"):
        gan.generate(2, codes={"c_cont": [np.nan, 0]})


def test_infogan_information_loss_matches_a_hand_computation():
    gan = tiny("infogan", info_weight=1.0, continuous_weight=0.1)
    rng = np.random.default_rng(0)
    c_cat = np.array([0, 2, 1], "int32")
    c_cont = rng.uniform(-1, 1, (3, 2)).astype("float32")
    q_cat = rng.normal(size=(3, 3)).astype("float32")
    q_cont = rng.normal(size=(3, 2)).astype("float32")
    loss = gan.info_loss([None, q_cat, q_cont], [None, c_cat, c_cont])
    expected = _xent(q_cat, c_cat) + 0.1 * 0.5 * ((c_cont - q_cont) ** 2).sum(1)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_infogan_training_makes_the_codes_recoverable(images_8x8):
    """Q learns to read the categorical code back from generated images."""
    keras.utils.set_random_seed(0)
    gan = tiny("infogan", seed=0)
    gan.compile(keras.optimizers.Adam(2e-3, beta_1=0.5), keras.optimizers.Adam(2e-3, beta_1=0.5))
    ds = tf.data.Dataset.from_tensor_slices(np.tile(images_8x8, (4, 1, 1, 1))).batch(16)
    history = gan.fit(ds, epochs=4, verbose=0).history
    # from about log(3) (chance) to a small fraction of it
    assert history["info"][0] > 0.9 * np.log(3)
    assert history["info"][-1] < 0.3 * np.log(3)


def test_infogan_grid_rows_are_the_categories():
    gan = tiny("infogan", seed=0)
    images, nrow = gan.sample_grid(9, seed=2)
    assert nrow == 3
    np.testing.assert_allclose(images[3:6], gan.generate(3, seed=2, codes={"c_cat": 1}),
                               atol=1e-6)


# -------------------------------------------------------------------- SNGAN
def test_sngan_discriminator_is_spectrally_normalised_with_a_projection():
    gan = tiny("sngan", seed=0)
    d = gan.discriminator
    weighted = [l for l in d.layers if l.weights and not isinstance(l, keras.layers.InputLayer)]
    assert weighted and all(isinstance(l, kg_layers.SpectralNormalizationMixin) for l in weighted)
    assert isinstance(d.get_layer("projection"), kg_layers.SNEmbedding)
    # logit = psi(phi) + <embed(y), phi>
    images = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 1)).astype("float32")
    labels = np.array([0, 1, 2, 1], "int32")
    phi = keras.Model(d.inputs, d.get_layer("sum_pool").output)([images, labels])
    psi = d.get_layer("psi")(phi)
    embed = d.get_layer("projection")(labels)
    expected = np.asarray(psi) + np.sum(np.asarray(embed) * np.asarray(phi), 1, keepdims=True)
    np.testing.assert_allclose(d([images, labels]), expected, rtol=1e-5, atol=1e-5)
    # the generator uses conditional batch norm
    assert any(isinstance(l, kg_layers.ConditionalBatchNormalization) for l in gan.generator.layers)
    gan.compile()
    assert gan.d_loss_fn is kerasgan.losses.hinge_discriminator_loss
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(1e-4)
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(4e-4)


def test_sngan_unconditional_variant():
    gan = tiny("sngan", num_classes=None)
    assert len(gan.generator.inputs) == 1 and len(gan.discriminator.inputs) == 1
    assert gan.generate(2, seed=0).shape == (2, 8, 8, 1)


def _vectors(model):
    return [(l.u.numpy().copy(), l.v.numpy().copy()) for l in kg_layers.spectral_norm_layers(model)]


def test_spectral_norm_updates_once_per_discriminator_step_and_never_in_inference(images_8x8):
    gan = tiny("sngan", seed=0)
    gan.compile()
    before = _vectors(gan.discriminator)
    # inference and training-mode forward passes leave u, v alone
    gan.generate(4, seed=0, labels="random")
    labels = np.zeros(4, "int32")
    gan.discriminate(images_8x8[:4], labels, training=True)
    gan.discriminate(images_8x8[:4], labels, training=False)
    for (u0, v0), (u1, v1) in zip(before, _vectors(gan.discriminator)):
        np.testing.assert_array_equal(u0, u1)
        np.testing.assert_array_equal(v0, v1)
    # one fit step with d_steps=1 is exactly one power iteration, on the weights
    # before the update: start from random vectors so 1 and 2 iterations differ
    rng = np.random.default_rng(0)
    sn = kg_layers.spectral_norm_layers(gan.discriminator)
    expected = []
    for layer in sn:
        u0 = rng.standard_normal(layer.u.shape).astype("float32")
        layer.u.assign(u0 / np.linalg.norm(u0))
        w = np.asarray(layer._sn_matrix(layer._sn_variable()), "float64")
        v = w.T @ layer.u.numpy()
        v /= np.linalg.norm(v)
        u = w @ v
        expected.append(u / np.linalg.norm(u))
    gan.fit(labelled(images_8x8).take(1), epochs=1, verbose=0)
    assert int(gan.d_optimizer.iterations) == 1
    for layer, u in zip(sn, expected):
        np.testing.assert_allclose(layer.u.numpy(), u, atol=1e-5, err_msg=layer.name)
        w = np.asarray(layer._sn_matrix(layer._sn_variable()))
        assert float(layer.sigma()) == pytest.approx(
            float(layer.u.numpy() @ w @ layer.v.numpy()), rel=1e-4)


def test_the_kit_copy_of_check_code_agrees_with_kerasgan():
    import os
    import sys

    from conftest import REPO
    from kerasgan.sampling import check_code

    sys.path.insert(0, os.path.join(REPO, "export"))
    from onnx_generator import _check_code

    cont = {"name": "c_cont", "shape": [2], "dtype": "float32", "sampler": "uniform",
            "low": -1.0, "high": 1.0}
    cat = {"name": "c_cat", "shape": [], "dtype": "int32", "sampler": "categorical",
           "num_classes": 4}
    for spec, value in [(cont, [0.5, -1]), (cont, np.zeros((3, 2))), (cont, 0.25), (cat, 3),
                        (cat, [0, 1, 2])]:
        np.testing.assert_array_equal(check_code(value, 3, spec), _check_code(value, 3, spec))
    for spec, value in [(cont, [1, 2, 3]), (cont, [np.inf, 0]), (cont, ["a", "b"]), (cat, 4),
                        (cat, [0.5] * 3), (cat, [1, 2])]:
        with pytest.raises(ValueError) as ours:
            check_code(value, 3, spec)
        with pytest.raises(ValueError) as kit:
            _check_code(value, 3, spec)
        assert str(ours.value) == str(kit.value)
