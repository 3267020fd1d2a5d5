"""DRIT: the shared layers, the loss terms, the step, the uses (random,
reference-guided and interpolated attributes), export of the translator and
its parts with the TensorFlow-free kit, the CLI recipe and bad input.

Tiny configurations (16x16 gray images). The family is also in the generic
per-family tests (test_gan, test_export, test_precision, test_distribution,
test_resume) through its ``tiny_config``.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasgan import export
from kerasgan.models import DRIT
from kerasgan.models.drit import kl_per_example, mode_seeking_per_example

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "export"))
from onnx_generator import OnnxGenerator  # noqa: E402


def tiny(**overrides):
    # every term on (the generic tests' tiny config leaves two out: see DRIT.tiny_config)
    config = dict(DRIT.tiny_config, image_shape=(16, 16, 1), n_downsampling=2, seed=0,
                  mode_seeking_weight=1.0, content_weight=1.0)
    gan = DRIT(**dict(config, **overrides))
    gan.compile()
    return gan


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (8, 16, 16, 1)).astype("float32")


def test_shared_blocks_are_one_network_and_each_variable_is_updated_once():
    gan = tiny()
    # the last content block and the first generator block are the same
    # objects in both directions' translators
    for shared in ("content_shared", "generator_shared"):
        assert gan.translator_ab.get_layer(shared) is gan.translator_ba.get_layer(shared)
        assert gan.translator_ab.get_layer(shared) is getattr(gan, shared)
    g_vars = gan.generator_trainable_variables()
    assert len({id(v) for v in g_vars}) == len(g_vars)
    nets = (gan.content_encoder_a, gan.content_encoder_b, gan.content_shared,
            gan.attribute_encoder_a, gan.attribute_encoder_b, gan.generator_shared,
            gan.generator_a, gan.generator_b)
    assert len(g_vars) == sum(len(n.trainable_variables) for n in nets)
    d_vars = gan.discriminator_trainable_variables()
    assert len(d_vars) == sum(len(n.trainable_variables) for n in (
        gan.discriminator_a, gan.discriminator_b, gan.content_discriminator))


def test_kl_and_mode_seeking_are_the_formulas():
    mu = np.array([[0.5, -1.0], [0.0, 0.0]], "float32")
    logvar = np.array([[0.2, -0.3], [0.0, 0.0]], "float32")
    want = 0.5 * np.sum(mu**2 + np.exp(logvar) - 1 - logvar, axis=1)
    np.testing.assert_allclose(kl_per_example(mu, logvar).numpy(), want, rtol=1e-6)
    assert kl_per_example(mu, logvar).numpy()[1] == 0.0  # N(0, 1) itself
    rng = np.random.default_rng(1)
    o1, o2 = rng.normal(size=(2, 3, 4, 4, 1)).astype("float32")
    z1, z2 = rng.normal(size=(2, 3, 8)).astype("float32")
    lz = np.abs(o1 - o2).mean((1, 2, 3)) / np.abs(z1 - z2).mean(1)
    np.testing.assert_allclose(mode_seeking_per_example(o1, o2, z1, z2).numpy(),
                               1 / (lz + 1e-5), rtol=1e-5)


def test_latent_regression_reaches_the_image_not_the_attribute_encoder(images):
    gan = tiny()
    x = tf.constant(images[:2])
    enc = gan.attribute_encoder_a
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        stopped = tf.reduce_sum(gan._stopped_mean(enc, x))
        plain = tf.reduce_sum(enc(x, training=True)[0])
    np.testing.assert_allclose(stopped.numpy(), plain.numpy(), rtol=1e-5)  # the same value
    assert all(g is None or not np.any(g.numpy())
               for g in tape.gradient(stopped, enc.trainable_variables))
    assert np.any(tape.gradient(stopped, x).numpy())  # but the image gets the gradient
    assert any(g is not None and np.any(g.numpy())
               for g in tape.gradient(plain, enc.trainable_variables))


def test_one_step_updates_every_network_and_logs_every_term(images):
    gan = tiny()
    gan.compile(run_eagerly=True)  # two steps: eager is cheaper than tracing the step
    nets = {n: getattr(gan, n) for n in (
        "content_encoder_a", "content_encoder_b", "content_shared", "attribute_encoder_a",
        "attribute_encoder_b", "generator_shared", "generator_a", "generator_b",
        "discriminator_a", "discriminator_b", "content_discriminator")}
    before = {n: [w.copy() for w in net.get_weights()] for n, net in nets.items()}
    data = tf.data.Dataset.from_tensor_slices((images, images[::-1].copy())).batch(4)
    history = gan.fit(data, epochs=1, verbose=0).history
    for name, net in nets.items():
        assert any(not np.array_equal(w0, w1) for w0, w1 in zip(before[name], net.get_weights())), \
            f"{name} did not change"
    for key in ("g_loss", "d_loss", "g_gan", "content_gan", "cycle", "reconstruction", "kl",
                "latent", "mode_seeking", "d_content"):
        assert np.isfinite(history[key][-1]), key
    assert history["mode_seeking"][-1] > 0 and history["cycle"][-1] > 0


def test_mirrored_first_step_with_every_term_equals_one_device(images, mirrored_strategy):
    """The generic mirrored check (test_distribution) runs three steps of the
    tiny config, which leaves out the two terms whose gradients are round-off
    at initialisation (see DRIT.tiny_config); here every term is on, for one
    step: the same losses, and weights within round-off of one device."""
    import keras

    def train(strategy):
        with strategy.scope():
            keras.utils.set_random_seed(3)
            gan = DRIT(**dict(DRIT.tiny_config, image_shape=(16, 16, 1), mode_seeking_weight=1.0,
                              content_weight=1.0, seed=1))
            # eager: one step of this graph costs far less than tracing it twice (two
            # replicas); test_distribution checks the traced mirrored step
            gan.compile(run_eagerly=True)
        data = tf.data.Dataset.from_tensor_slices((images, images[::-1].copy())).batch(8)
        return gan, gan.fit(data.take(1), epochs=1, verbose=0).history

    one, h1 = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two, h2 = train(mirrored_strategy)
    for key in h1:
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert h1["mode_seeking"][0] > 0 and h1["content_gan"][0] > 0
    for va, vb in zip(one.weights, two.weights):
        np.testing.assert_allclose(va.numpy(), vb.numpy(), atol=1e-5, err_msg=va.path)


def test_translate_random_reference_and_interpolated_attributes(images):
    gan = tiny()
    x, refs = images[:3], images[3:6]
    out = gan.translate(x, n=4, seed=7)
    assert out.shape == (3, 4, 16, 16, 1) and np.all(np.abs(out) <= 1)
    np.testing.assert_array_equal(out, gan.translate(x, n=4, seed=7))  # seeded
    assert not np.allclose(out[:, 0], out[:, 1])  # attributes change the output
    # the seed rule: row i * n + j of default_rng(seed).standard_normal
    codes = np.random.default_rng(7).standard_normal((12, 2)).astype("float32")
    np.testing.assert_allclose(gan.translate(x, attributes=codes[[1, 5, 9]]), out[:, 1],
                               atol=1e-6)
    # reference-guided: the reference's mean attribute (domain B for AtoB)
    mu = gan.attributes(refs, "B")
    assert mu.shape == (3, 2)
    np.testing.assert_allclose(gan.translate(x, reference=refs),
                               gan.translate(x, attributes=mu), atol=1e-6)
    np.testing.assert_allclose(gan.translate(x, reference=refs[:1]),
                               gan.translate(x, attributes=mu[0]), atol=1e-6)
    ba = gan.translate(x, direction="BtoA", reference=refs)
    np.testing.assert_allclose(ba, gan.translate(x, direction="BtoA",
                                                 attributes=gan.attributes(refs, "A")),
                               atol=1e-6)
    line = gan.interpolate(x, mu[0], mu[1], steps=3)
    assert line.shape == (3, 3, 16, 16, 1)
    np.testing.assert_allclose(line[:, 0], gan.translate(x, attributes=mu[0]), atol=1e-6)
    np.testing.assert_allclose(line[:, 2], gan.translate(x, attributes=mu[1]), atol=1e-6)
    grid, k = gan.attribute_grid(x, n=4, seed=0)
    assert k == 5 and grid.shape == (15, 16, 16, 1)
    np.testing.assert_array_equal(grid[0], x[0])  # each row starts with its input


@pytest.mark.slow  # heavy: CI's -m slow pass runs it
def test_translator_and_parts_export_with_parity_and_the_kit_translates(tmp_path, images):
    gan = tiny(ema_decay=0.9)
    reports = export.export(gan, str(tmp_path), formats=("onnx",))
    names = sorted(os.path.basename(r["path"]) for r in reports)
    assert names == ["drit.onnx", "drit_attribute_encoder.onnx", "drit_content_encoder.onnx",
                     "drit_generator.onnx"]
    for r in reports:
        assert r["parity"]["onnxruntime"] <= 1e-4
    meta = {os.path.basename(r["path"]): r["metadata"] for r in reports}
    assert [s["name"] for s in meta["drit.onnx"]["inputs"]] == ["inputs", "attribute"]
    assert [s["name"] for s in meta["drit_generator.onnx"]["inputs"]] == ["content", "attribute"]
    assert meta["drit_content_encoder.onnx"]["outputs"][0]["shape"] == [4, 4, 16]
    assert meta["drit_attribute_encoder.onnx"]["outputs"][0] == {
        "name": "attribute", "shape": [2], "dtype": "float32"}
    assert meta["drit_attribute_encoder.onnx"]["part"] == "attribute_encoder"
    gen = OnnxGenerator(str(tmp_path / "drit.onnx"))
    enc = OnnxGenerator(str(tmp_path / "drit_attribute_encoder.onnx"))
    x, refs = images[:3], images[5:8]
    np.testing.assert_allclose(gen.translate(x, n=3, seed=2), gan.translate(x, n=3, seed=2),
                               atol=1e-4)
    np.testing.assert_allclose(gen.translate(x, attributes=enc.encode(refs)),
                               gan.translate(x, reference=refs), atol=1e-4)
    # the parts compose to the translator
    content = OnnxGenerator(str(tmp_path / "drit_content_encoder.onnx")).encode(x)
    g = OnnxGenerator(str(tmp_path / "drit_generator.onnx"))
    codes = enc.encode(refs)
    np.testing.assert_allclose(g.run({"content": content, "attribute": codes}),
                               gen.translate(x, attributes=codes), atol=1e-4)
    with pytest.raises(ValueError, match="not an encoder"):
        gen.encode(x)
    with pytest.raises(ValueError, match="n .random attributes. or attributes"):
        gen.translate(x, n=2, attributes=codes)
    # the kit's command line: a grid with the input then the translations
    np.save(tmp_path / "x.npy", x)
    out = subprocess.run(
        [sys.executable, os.path.join(REPO, "export", "generate.py"), str(tmp_path / "drit.onnx"),
         "--inputs", str(tmp_path / "x.npy"), "--attributes", "4", "--seed", "0",
         "--out", str(tmp_path / "g.png")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert Image.open(tmp_path / "g.png").size == (5 * 18 + 2, 3 * 18 + 2)
    out = subprocess.run(
        [sys.executable, os.path.join(REPO, "export", "generate.py"), str(tmp_path / "drit.onnx"),
         "--inputs", str(tmp_path / "x.npy"), "--reference", str(tmp_path / "x.npy"),
         "--out", str(tmp_path / "r.png")], capture_output=True, text=True)
    assert out.returncode == 2 and "go together" in out.stderr
    assert out.stderr.count("\n") == 1


def write_folder(folder, n, size=16, shade=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(shade)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size), dtype="uint8"), "L").save(
            folder / f"{i}.png")


@pytest.mark.slow  # heavy: CI's -m slow pass runs it
def test_cli_recipe_train_sample_export(tmp_path, capsys):
    from kerasgan.cli import main

    write_folder(tmp_path / "a", 4, shade=1)
    write_folder(tmp_path / "b", 4, shade=2)
    run = str(tmp_path / "run")
    assert main(["train", "drit", "--data", str(tmp_path / "a"), "--data-b", str(tmp_path / "b"),
                 "--flip", "--epochs", "1", "--batch-size", "2", "--width", "2",
                 "--attribute-dim", "2", "--n-blocks", "1", "--n-downsampling", "1",
                 "--d-width", "2", "--d-layers", "2",
                 "--out", run, "--quiet"]) == 0
    assert main(["sample", run, "--n", "3", "--out", str(tmp_path / "t.png")]) == 0
    assert "4 translations with random attributes" in capsys.readouterr().out
    # 3 rows: the input, then 4 random attributes
    assert Image.open(tmp_path / "t.png").size == (5 * 18 + 2, 3 * 18 + 2)
    assert main(["export", run, "--format", "onnx", "--direction", "BtoA",
                 "--out", str(tmp_path / "exp")]) == 0
    for part in ("", "_generator", "_content_encoder", "_attribute_encoder"):
        assert os.path.exists(tmp_path / "exp" / f"drit_BtoA{part}.onnx")


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    """SIGKILL mid-epoch (after step 3 of 4, backups every step), then the same
    command: the weights, optimizer slots and EMA copies of an uninterrupted run."""
    import keras

    write_folder(tmp_path / "a", 8, shade=1)
    write_folder(tmp_path / "b", 8, shade=2)
    args = ["train", "drit", "--data", str(tmp_path / "a"), "--data-b", str(tmp_path / "b"),
            "--flip", "--epochs", "1", "--batch-size", "2", "--width", "2", "--attribute-dim",
            "2", "--n-blocks", "1", "--d-width", "2", "--d-layers", "2", "--ema-decay", "0.9",
            "--backup-every", "1", "--quiet"]
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")

    def start(out, fault=None):
        head = [os.path.join(REPO, "tests", "faults.py"), fault, "3", "--"] if fault else \
            ["-m", "kerasgan.cli"]
        return subprocess.Popen([sys.executable, *head, *args, "--out", str(out)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(process):
        out, err = process.communicate(timeout=600)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    # the uninterrupted run and the one killed after step 3 are independent: side by side
    straight, killed = start(reference), start(resumed, "kill-at-step")
    straight, killed = finish(straight), finish(killed)
    assert straight.returncode == 0, straight.stderr[-2000:]
    assert killed.returncode == -9, killed.stderr[-2000:]
    again = finish(start(resumed))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "(step 2)" in again.stderr or "(step 3)" in again.stderr, again.stderr[-2000:]
    a = keras.saving.load_model(str(reference / "gan.keras"))
    b = keras.saving.load_model(str(resumed / "gan.keras"))
    assert a.training_steps() == b.training_steps() == 4
    for x, y in zip(a.weights + a.g_optimizer.variables, b.weights + b.g_optimizer.variables):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-5, atol=1e-6, err_msg=x.path)


def test_bad_input_is_one_clear_line(images):
    with pytest.raises(ValueError, match="multiples of 4 and at least 8"):
        DRIT(image_shape=(18, 18, 3))
    with pytest.raises(ValueError, match="d_layers=5 .*at most 4"):
        DRIT(**dict(DRIT.tiny_config, image_shape=(16, 16, 1), d_layers=5))
    with pytest.raises(ValueError, match="n_downsampling=3 takes .* multiples of 8"):
        DRIT(**dict(DRIT.tiny_config, image_shape=(12, 12, 1), n_downsampling=3))
    with pytest.raises(ValueError, match="kl_weight must be a finite number >= 0"):
        DRIT(**dict(DRIT.tiny_config, kl_weight=-1))
    gan = tiny()
    with pytest.raises(ValueError, match="at most one of n, attributes and reference"):
        gan.translate(images[:2], n=2, reference=images[:1])
    with pytest.raises(ValueError, match=r"attributes must be finite, of shape \(2,\)"):
        gan.translate(images[:2], attributes=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="one reference image or 2"):
        gan.translate(images[:2], reference=images[:3])
    with pytest.raises(ValueError, match="channels"):
        gan.translate(np.zeros((2, 16, 16, 3), "float32"))
