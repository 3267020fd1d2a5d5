"""StyleGAN2: modulated convolution, noise, truncation, style mixing, lazy R1,
path length, w_avg, export with truncation as an input, bad input.

The generic tests (test_gan, test_export, test_distribution, test_precision)
cover it too, through its registered ``tiny_config``.
"""

import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasgan import export, models, penalties
from kerasgan.layers.modulated import BilinearUpsample2x, ModulatedConv2D, NoiseInjection
from kerasgan.models.stylegan2 import noise_resolutions, num_ws

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "export"))
from onnx_generator import OnnxGenerator  # noqa: E402

TINY = models.StyleGAN2.tiny_config


def tiny(**overrides):
    return models.StyleGAN2(**dict(TINY, **overrides))


def noise_inputs(gan, n, rng):
    return [rng.standard_normal((n, *shape)).astype("float32") for shape in gan.noise_shapes()]


def numpy_conv_same(x, kernel):
    """Naive 'same' cross-correlation of one NHWC image with (k, k, in, out)."""
    k = kernel.shape[0]
    pad = k // 2
    xp = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    h, w, _ = x.shape
    out = np.zeros((h, w, kernel.shape[-1]), "float64")
    for i in range(h):
        for j in range(w):
            out[i, j] = np.tensordot(xp[i:i + k, j:j + k], kernel, axes=3)
    return out


# ------------------------------------------------------------------ layers
@pytest.mark.parametrize("demodulate", [True, False], ids=["demod", "torgb"])
def test_modulated_conv_equals_per_example_modulated_kernels(demodulate):
    """The activation-scaling form equals eq. 1-3 of the paper: one kernel per
    example, w' = s * w, then w'' = w' / sqrt(sum w'^2 + eps)."""
    rng = np.random.default_rng(0)
    kernel_size = 3 if demodulate else 1
    layer = ModulatedConv2D(4, kernel_size, demodulate=demodulate)
    x = rng.standard_normal((2, 5, 5, 3)).astype("float32")
    w = rng.standard_normal((2, 6)).astype("float32")
    layer([x, w])
    layer.bias.assign(rng.standard_normal(4).astype("float32"))
    layer.affine.bias.assign(rng.standard_normal(3).astype("float32"))
    got = layer([x, w]).numpy()

    a_kernel = layer.affine.kernel.numpy() / np.sqrt(6)  # equalised, gain 1
    styles = w @ a_kernel + layer.affine.bias.numpy()
    base = layer.kernel.numpy().astype("float64") / np.sqrt(kernel_size * kernel_size * 3)
    for b in range(2):
        k = base * styles[b][None, None, :, None]
        if demodulate:
            k = k / np.sqrt(np.sum(k ** 2, axis=(0, 1, 2), keepdims=True) + 1e-8)
        expected = numpy_conv_same(x[b].astype("float64"), k) + layer.bias.numpy()
        np.testing.assert_allclose(got[b], expected, rtol=1e-4, atol=1e-4)


def test_demodulation_gives_unit_std_whatever_the_style_scale():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 32, 32, 64)).astype("float32")
    w = rng.standard_normal((2, 16)).astype("float32")
    outputs = {}
    for demodulate in (True, False):
        layer = ModulatedConv2D(64, 3, demodulate=demodulate, use_bias=False)
        layer([x, w])
        for scale in (1.0, 10.0):
            # every style equal to `scale`: the affine layer's kernel 0, its bias `scale`
            layer.affine.kernel.assign(np.zeros_like(layer.affine.kernel.numpy()))
            layer.affine.bias.assign(np.full(64, scale, "float32"))
            outputs[demodulate, scale] = layer([x, w]).numpy()
    for scale in (1.0, 10.0):
        assert outputs[True, scale].std() == pytest.approx(1.0, abs=0.1)
    np.testing.assert_allclose(outputs[True, 1.0], outputs[True, 10.0], rtol=1e-4, atol=1e-4)
    # without demodulation the output scales with the styles
    assert outputs[False, 10.0].std() == pytest.approx(10 * outputs[False, 1.0].std(), rel=1e-3)


def test_noise_injection_acts_only_through_its_strength():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 4, 3)).astype("float32")
    noise = rng.standard_normal((2, 4, 4, 1)).astype("float32")
    layer = NoiseInjection()
    np.testing.assert_array_equal(layer([x, noise]).numpy(), x)  # strength starts at 0
    layer.strength.assign(0.5)
    np.testing.assert_allclose(layer([x, noise]).numpy(), x + 0.5 * noise, rtol=1e-6)
    per_channel = NoiseInjection(per_channel=True)
    per_channel([x, noise])
    per_channel.strength.assign([1.0, 0.0, -2.0])
    np.testing.assert_allclose(per_channel([x, noise]).numpy(),
                               x + noise * np.array([1.0, 0.0, -2.0]), rtol=1e-6)

    # in the generator: at initialisation the noise maps change nothing
    gan = tiny(seed=0)
    z = rng.standard_normal((3, gan.latent_dim)).astype("float32")
    psi = np.ones(3, "float32")
    a = gan.generator([z, *noise_inputs(gan, 3, rng), psi]).numpy()
    b = gan.generator([z, *noise_inputs(gan, 3, rng), psi]).numpy()
    np.testing.assert_array_equal(a, b)
    for layer in gan.synthesis.layers:
        if isinstance(layer, NoiseInjection):
            layer.strength.assign(0.3)
    c = gan.generator([z, *noise_inputs(gan, 3, rng), psi]).numpy()
    assert not np.allclose(a, c, atol=1e-3)


def test_bilinear_upsample_matches_tf_image_resize():
    x = np.random.default_rng(3).standard_normal((2, 4, 6, 3)).astype("float32")
    expected = tf.image.resize(x, (8, 12), "bilinear").numpy()
    np.testing.assert_allclose(BilinearUpsample2x()(x).numpy(), expected, atol=1e-6)


def test_layout_follows_the_paper():
    assert num_ws(1024) == 18 and num_ws(32) == 8 and num_ws(8) == 4
    assert noise_resolutions(32) == [4, 8, 8, 16, 16, 32, 32]
    gan = models.StyleGAN2(image_shape=(32, 32, 3), latent_dim=16, mapping_layers=2,
                           g_width=32, d_width=16, channel_base=256)
    assert gan.synthesis.input_shape[0] == (None, 8, 16)
    assert [i.name for i in gan.generator.inputs] == \
        ["z"] + [f"noise_{i}" for i in range(7)] + ["truncation_psi"]
    # channels min(channel_base // res, width): 32 at 4 and 8, 16 at 16, 8 at 32
    assert gan.synthesis.get_layer("b8_conv1_conv").output.shape[-1] == 32
    assert gan.synthesis.get_layer("b16_conv1_conv").output.shape[-1] == 16
    assert gan.synthesis.get_layer("b32_conv1_conv").output.shape[-1] == 8
    assert gan.discriminator.output_shape == (None, 1)
    assert gan.r1_gamma == pytest.approx(0.0002 * 32 * 32 / 32)
    assert gan.get_config()["r1_gamma"] == gan.r1_gamma  # stored resolved
    assert gan.ema_generator is not None and gan.ema_decay == 0.999
    gan.compile()
    for opt in (gan.g_optimizer, gan.d_optimizer):
        assert float(opt.learning_rate) == pytest.approx(0.0025)
        assert float(opt.beta_1) == 0.0 and float(opt.beta_2) == pytest.approx(0.99)
    small = models.StyleGAN2(image_shape=(4, 4, 1), latent_dim=4, mapping_layers=1, g_width=4,
                             d_width=4)
    assert small.generate(2, seed=0).shape == (2, 4, 4, 1)


# --------------------------------------------------------------- truncation
def test_truncation_psi():
    gan = tiny(seed=0)
    rng = np.random.default_rng(4)
    gan.w_avg.assign(rng.standard_normal(gan.latent_dim).astype("float32"))
    n = 4
    z = rng.standard_normal((n, gan.latent_dim)).astype("float32")
    noise = noise_inputs(gan, 1, rng)
    noise = [np.repeat(x, n, axis=0) for x in noise]  # the same noise for every z

    def run(psi):
        return gan.generator([z, *noise, np.full(n, psi, "float32")]).numpy()

    def synthesize(w):
        ws = np.repeat(w[:, None, :], gan.num_ws, axis=1)
        return np.clip(gan.synthesis([ws, *noise]).numpy(), -1, 1)

    w = gan.mapping(z).numpy()
    # psi = 0: every z gives the w_avg image
    at_zero = run(0.0)
    np.testing.assert_allclose(at_zero, synthesize(np.repeat(gan.w_avg.numpy()[None], n, 0)),
                               atol=1e-5)
    np.testing.assert_allclose(at_zero, np.repeat(at_zero[:1], n, 0), atol=1e-6)
    # psi = 1: untruncated
    np.testing.assert_allclose(run(1.0), synthesize(w), atol=1e-5)
    # psi = 0.5: halfway in W
    avg = gan.w_avg.numpy()[None]
    np.testing.assert_allclose(run(0.5), synthesize(avg + 0.5 * (w - avg)), atol=1e-5)
    # generate(): psi is an input, so a seed draws the same z and noise for every psi
    np.testing.assert_array_equal(gan.generate(3, seed=1), gan.generate(3, seed=1,
                                                                        truncation_psi=1.0))
    assert not np.allclose(gan.generate(3, seed=1), gan.generate(3, seed=1, truncation_psi=0.5),
                           atol=1e-4)
    np.testing.assert_array_equal(gan.generate(3, seed=1, truncation_psi=0.5),
                                  gan.generate(3, seed=1, codes={"truncation_psi": 0.5}))


# ------------------------------------------------------------ style mixing
def test_style_mixing_takes_layers_from_the_crossover_on_from_z2():
    gan = tiny(seed=0)
    rng = np.random.default_rng(5)
    z, z2 = (rng.standard_normal((3, gan.latent_dim)).astype("float32") for _ in range(2))
    draws = {"z": z, "z2": z2, "coin": np.array([0.0, 0.0, 0.95], "float32"),
             "cutoff": np.array([1, 3, 1], "int32")}
    w, ws = gan._latents(draws, training=False)
    w1, w2 = gan.mapping(z).numpy(), gan.mapping(z2).numpy()
    ws = ws.numpy()
    np.testing.assert_allclose(w.numpy(), w1)
    for layer in range(gan.num_ws):
        np.testing.assert_allclose(ws[0, layer], w1[0] if layer < 1 else w2[0])
        np.testing.assert_allclose(ws[1, layer], w1[1] if layer < 3 else w2[1])
        np.testing.assert_allclose(ws[2, layer], w1[2])  # coin 0.95 > 0.9: no mixing
    # the synthesis network: layers before the crossover come from w1, so the
    # 4x4 conv (layer 0) with cutoff 1 sees w1 and the 8x8 ones see w2
    noise = noise_inputs(gan, 3, rng)
    mixed = gan.synthesis([ws, *noise]).numpy()
    pure2 = gan.synthesis([np.repeat(w2[:, None], gan.num_ws, 1), *noise]).numpy()
    assert not np.allclose(mixed[0], pure2[0], atol=1e-5)
    ws_changed = ws.copy()
    ws_changed[1, 3:] += 1.0  # only the layers after example 1's crossover
    changed = gan.synthesis([ws_changed, *noise]).numpy()
    np.testing.assert_array_equal(changed[0], mixed[0])
    assert not np.allclose(changed[1], mixed[1], atol=1e-5)
    # drawn per example: about 90% mixed, crossovers in [1, num_ws)
    draws = gan._draw(0, 2000, 2000)
    coin, cutoff = np.asarray(draws["coin"]), np.asarray(draws["cutoff"])
    assert np.mean(coin < 0.9) == pytest.approx(0.9, abs=0.03)
    assert set(np.unique(cutoff)) == set(range(1, gan.num_ws))


# ----------------------------------------------------------- the train step
def _images(n=16, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, (n, 8, 8, 1)).astype("float32")


def _one_step(gan, images):
    return gan.fit(tf.data.Dataset.from_tensor_slices(images).batch(len(images)),
                   epochs=1, verbose=0).history


def test_lazy_r1_only_on_interval_steps_and_equals_the_direct_gradient():
    images = _images()
    runs = {}
    for gamma in (10.0, 0.0):
        keras.utils.set_random_seed(3)
        gan = tiny(seed=1, r1_gamma=gamma, r1_interval=2, pl_weight=0.0, style_mixing=0.0)
        gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.1))
        runs[gamma] = gan
    with_r1, without = runs[10.0], runs[0.0]
    d0 = [v.numpy() for v in with_r1.discriminator.trainable_variables]
    seed_state = with_r1.seed_generator.state.numpy()

    # the direct R1 gradient on the initial discriminator
    real = tf.constant(images)
    with tf.GradientTape() as tape:
        r1 = penalties.r1_penalty(lambda x, training=True: with_r1.discriminator(x, training=True),
                                  real)
        loss = 0.5 * 10.0 * 2 * tf.reduce_sum(r1) / len(images)
    variables = with_r1.discriminator.trainable_variables
    direct = [np.zeros(v.shape, "float32") if g is None else g.numpy()  # biases of the
              for g, v in zip(tape.gradient(loss, variables), variables)]  # last layer: None
    assert sum(np.abs(g).sum() > 0 for g in direct) > len(direct) // 2

    # step 0 is due (0 % 2 == 0): the updates differ by exactly -lr * grad(R1 term)
    logs = _one_step(with_r1, images)
    _one_step(without, images)
    assert logs["r1"][0] == pytest.approx(float(np.mean(r1)), rel=1e-5)
    for a, b, g in zip(with_r1.discriminator.trainable_variables,
                       without.discriminator.trainable_variables, direct):
        np.testing.assert_allclose(a.numpy() - b.numpy(), -0.1 * g, rtol=1e-3, atol=1e-6)

    # step 1 is not due: from the same state both make the same update, r1 logs nothing
    for gan in (with_r1, without):
        for v, value in zip(gan.discriminator.trainable_variables, d0):
            v.assign(value)
        gan.seed_generator.state.assign(seed_state)
        gan.d_optimizer.iterations.assign(1)
    logs = _one_step(with_r1, images)
    _one_step(without, images)
    assert logs["r1"][0] == 0.0
    for a, b in zip(with_r1.discriminator.trainable_variables,
                    without.discriminator.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_path_lengths_equal_a_direct_computation():
    rng = np.random.default_rng(6)
    batch, layers, dim, h, w, c = 3, 4, 5, 2, 2, 2
    matrix = rng.standard_normal((layers * dim, h * w * c)).astype("float32")

    def synthesis(ws):  # linear: J^T y is matrix @ y
        flat = tf.reshape(ws, (-1, layers * dim)) @ matrix
        return tf.tanh(0.0 * flat[:, :1])[:, :, None, None] + tf.reshape(flat, (-1, h, w, c))

    ws = rng.standard_normal((batch, layers, dim)).astype("float32")
    y = rng.standard_normal((batch, h, w, c)).astype("float32")
    lengths = penalties.path_lengths(synthesis, tf.constant(ws), tf.constant(y)).numpy()
    grads = (y.reshape(batch, -1) @ matrix.T).reshape(batch, layers, dim)
    expected = np.sqrt(np.mean(np.sum(grads ** 2, axis=2), axis=1))
    np.testing.assert_allclose(lengths, expected, rtol=1e-5)
    np.testing.assert_allclose(penalties.path_length_penalty(lengths, 1.5).numpy(),
                               (expected - 1.5) ** 2, rtol=1e-5)
    # a loss scale changes nothing but the inner gradient's range
    scaled = penalties.path_lengths(synthesis, tf.constant(ws), tf.constant(y), loss_scale=1024.0)
    np.testing.assert_allclose(scaled.numpy(), expected, rtol=1e-5)


def test_step_tracks_w_avg_and_pl_mean_from_the_global_batch():
    """Replays the step's draws: w_avg (beta 0) is the mean of the generator
    step's w; pl_mean moves 1% toward the mean path length on a due step and
    stays on the next (interval 2)."""
    images = _images()
    n = len(images)
    gan = tiny(seed=2, w_avg_beta=0.0, r1_gamma=0.0, pl_interval=2, ema_decay=0.5)
    gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))
    state = gan.seed_generator.state.numpy()
    logs = _one_step(gan, images)

    gan.seed_generator.state.assign(state)
    gan._draw(0, n, n)  # the discriminator step's draws
    g_draws = gan._draw(0, n, n)
    pl_draws = gan._draw(0, n // 2, n // 2)
    pl_y = keras.random.normal((n // 2, 8, 8, 1), seed=gan.seed_generator) / 8.0
    np.testing.assert_allclose(gan.w_avg.numpy(), gan.mapping(g_draws["z"]).numpy().mean(0),
                               rtol=1e-5, atol=1e-6)
    _, pl_ws = gan._latents(pl_draws)
    lengths = penalties.path_lengths(lambda x: gan._synthesize(x, pl_draws["noise"]), pl_ws,
                                     pl_y).numpy()
    assert float(gan.pl_mean.numpy()) == pytest.approx(0.01 * lengths.mean(), rel=1e-4)
    assert logs["pl"][0] == pytest.approx(float(np.mean(lengths ** 2)), rel=1e-4)  # target 0
    # the EMA generator carries w_avg as a buffer (copied, not averaged)
    np.testing.assert_array_equal(gan.ema_generator.get_layer("truncation").w_avg.numpy(),
                                  gan.w_avg.numpy())
    before = float(gan.pl_mean.numpy())
    logs = _one_step(gan, images)  # generator step 1: not due
    assert float(gan.pl_mean.numpy()) == before and logs["pl"][0] == 0.0


# ------------------------------------------------------------------ export
def test_export_with_truncation_as_an_input(tmp_path):
    gan = tiny(seed=0, ema_decay=0.9)
    rng = np.random.default_rng(7)
    for model in (gan.generator, gan.ema_generator):
        for v in model.weights:
            v.assign(v.numpy() + 0.1 * rng.standard_normal(v.shape).astype("float32"))
    report = export.export_onnx(gan, tmp_path / "sg.onnx")
    assert report["parity"]["onnxruntime"] <= 1e-4
    spec = report["metadata"]["inputs"][-1]
    assert spec == {"name": "truncation_psi", "shape": [], "dtype": "float32",
                    "sampler": "fixed", "value": 1.0}
    export.export_saved_model(gan, tmp_path / "sg_sm")

    kit = OnnxGenerator(tmp_path / "sg.onnx")
    for psi in (1.0, 0.5, 0.0):
        expected = gan.generate(5, seed=11, truncation_psi=psi)
        np.testing.assert_allclose(kit.generate(5, seed=11, truncation_psi=psi), expected,
                                   atol=1e-4)
        np.testing.assert_allclose(kit.generate(5, seed=11, codes={"truncation_psi": psi}),
                                   expected, atol=1e-4)
    # the seed gives the same images without psi; one psi per image works too
    np.testing.assert_allclose(kit.generate(5, seed=11), gan.generate(5, seed=11), atol=1e-4)
    per_image = np.linspace(0, 1, 5).astype("float32")
    np.testing.assert_allclose(kit.generate(5, seed=2, truncation_psi=per_image),
                               gan.generate(5, seed=2, truncation_psi=per_image), atol=1e-4)
    # SavedModel with psi 0.5
    feed = dict(zip([s["name"] for s in gan.generator_inputs()],
                    gan.sample_inputs(5, seed=11, codes={"truncation_psi": 0.5})))
    loaded = tf.saved_model.load(str(tmp_path / "sg_sm"))
    got = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in feed.items()})
    np.testing.assert_allclose(got["images"].numpy(), gan.generate(5, seed=11, truncation_psi=0.5),
                               atol=1e-4)
    with pytest.raises(ValueError, match="'truncation_psi' has NaN"):
        kit.generate(2, seed=0, truncation_psi=float("nan"))


# --------------------------------------------------------------- bad input
def test_bad_input_is_clear():
    with pytest.raises(ValueError, match=r"power of two ≥ 4, got 28x28: .*--resize 32"):
        models.StyleGAN2(image_shape=(28, 28, 1))
    with pytest.raises(ValueError, match="power of two"):
        models.StyleGAN2(image_shape=(32, 16, 3))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        models.StyleGAN2(image_shape=(32, 32, 2))
    for kwargs, message in [({"style_mixing": 1.5}, "style_mixing"),
                            ({"r1_interval": 0}, "r1_interval"),
                            ({"pl_weight": -1.0}, "pl_weight"),
                            ({"r1_gamma": float("nan")}, "r1_gamma"),
                            ({"w_avg_beta": 1.0}, "w_avg_beta")]:
        with pytest.raises(ValueError, match=message):
            tiny(**kwargs)
    gan = tiny()
    with pytest.raises(ValueError, match="'truncation_psi' has NaN"):
        gan.generate(2, seed=0, truncation_psi=float("nan"))
    with pytest.raises(ValueError, match="'truncation_psi' must have shape"):
        gan.generate(2, seed=0, truncation_psi=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="unconditional"):
        gan.generate(2, labels=1)


# ---------------------------------------------------------------------- CLI
def test_cli_trains_samples_with_truncation_and_refuses_it_elsewhere(tmp_path, capsys):
    from PIL import Image

    from kerasgan import cli
    from kerasgan.images import make_grid

    rng = np.random.default_rng(0)
    data = tmp_path / "eights.npz"
    np.savez(data, x=rng.integers(0, 255, (32, 8, 8, 1)).astype(np.uint8))
    out = tmp_path / "sg2"
    flags = ["--g-width", "8", "--d-width", "8", "--latent-dim", "8", "--batch-size", "16",
             "--r1-gamma", "0.5", "--pl-weight", "1", "--quiet"]
    keras.backend.clear_session()
    assert cli.main(["train", "stylegan2", "--data", str(data), "--epochs", "1",
                     "--out", str(out), *flags]) == 0
    gan = keras.saving.load_model(out / "gan.keras")
    assert gan.r1_gamma == 0.5 and gan.pl_weight == 1.0 and gan.ema_generator is not None
    png = tmp_path / "psi.png"
    assert cli.main(["sample", str(out), "--n", "4", "--seed", "3", "--truncation-psi", "0.5",
                     "--out", str(png)]) == 0
    expected = make_grid(gan.generate(4, seed=3, truncation_psi=0.5))
    np.testing.assert_array_equal(np.asarray(Image.open(png)).reshape(expected.shape), expected)
    assert not np.array_equal(expected, make_grid(gan.generate(4, seed=3)))
    capsys.readouterr()
    assert cli.main(["sample", str(out), "--n", "4", "--truncation-psi", "nan",
                     "--out", str(png)]) == 2
    assert "--truncation-psi must be a finite number" in capsys.readouterr().err
    # the option of another family
    assert cli.main(["train", "dcgan", "--pl-weight", "1", "--out", str(tmp_path / "d")]) == 2
    assert "--pl-weight does not apply to dcgan" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
    dcgan = models.get("dcgan", **models.get_class("dcgan").tiny_config)
    dcgan.compile()
    dcgan.save(tmp_path / "dcgan.keras")
    assert cli.main(["sample", str(tmp_path / "dcgan.keras"), "--truncation-psi", "0.7",
                     "--out", str(png)]) == 2
    assert "--truncation-psi applies to stylegan2" in capsys.readouterr().err
