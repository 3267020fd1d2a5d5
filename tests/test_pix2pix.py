"""Pix2Pix and the paired-image machinery: the A|B loader, the U-Net, the
PatchGAN, the losses, one step, export with image inputs, PSNR/SSIM, bad input.

Tiny configurations and tiny JPEGs in ``tmp_path``; the facades check at the
end needs ``../shared/data/facades`` (skips without it; fails under CI=true).
The family is also in the generic per-family tests (test_gan, test_export,
test_precision, test_distribution) through its ``tiny_config``.
"""

import os
import sys

import keras
import numpy as np
import onnx
import pytest
import tensorflow as tf
from PIL import Image

import kerasgan
from kerasgan import data, export
from kerasgan.metrics.paired import baseline_scores, image_scores, paired_scores
from kerasgan.models import Pix2Pix
from kerasgan.models.pix2pix import (
    build_patchgan_discriminator, build_unet_generator, discriminator_loss, encoder_channels,
    generator_loss, patchgan_receptive_field,
)

from conftest import REPO, SHARED_DATA, require

sys.path.insert(0, os.path.join(REPO, "export"))
from onnx_generator import OnnxGenerator  # noqa: E402

FACADES = os.path.join(SHARED_DATA, "facades")


def write_pairs(root, split="train", n=4, size=16, quality=95):
    """``n`` A|B JPEGs ``(size x 2*size)``: left half red-ish ramps, right
    half blue-ish; pair i has a distinct brightness. Returns the left and
    right halves as written (uint8, before JPEG)."""
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    lefts, rights = [], []
    ramp = np.linspace(0, 255, size, dtype="float32")
    for i in range(n):
        left = np.zeros((size, size, 3), "uint8")
        left[..., 0] = ramp[None, :]
        left[..., 1] = 20 * i
        right = np.zeros((size, size, 3), "uint8")
        right[..., 2] = ramp[:, None]
        right[..., 1] = 200 - 20 * i
        Image.fromarray(np.concatenate([left, right], axis=1)).save(
            folder / f"{i + 1}.jpg", quality=quality)
        lefts.append(left)
        rights.append(right)
    return np.stack(lefts), np.stack(rights)


def tiny(**overrides):
    return Pix2Pix(**dict(Pix2Pix.tiny_config, **overrides))


# ----------------------------------------------------------------- the loader
def test_loader_splits_halves_and_direction(tmp_path):
    left, right = write_pairs(tmp_path, n=3)
    write_pairs(tmp_path, "test", n=2)
    a2b = data.open_paired(tmp_path, split="train", direction="AtoB")
    b2a = data.open_paired(str(tmp_path), split="train", direction="BtoA")
    assert len(a2b) == 3 and a2b.image_shape == (16, 16, 3) and a2b.target_shape == (16, 16, 3)
    # JPEG is lossy: compare with what was written, loosely
    assert np.abs(a2b.inputs.astype(int) - left).mean() < 4
    assert np.abs(a2b.targets.astype(int) - right).mean() < 4
    np.testing.assert_array_equal(b2a.inputs, a2b.targets)
    np.testing.assert_array_equal(b2a.targets, a2b.inputs)
    assert len(data.open_paired(tmp_path, split="test")) == 2
    assert data.open_paired(f"paired:{tmp_path}", resize=8).image_shape == (8, 8, 3)
    x, y = next(iter(a2b.dataset(3, shuffle=False)))
    assert x.dtype == tf.float32 and x.shape == (3, 16, 16, 3)
    np.testing.assert_allclose(x.numpy(), a2b.inputs / 127.5 - 1, atol=1e-6)
    np.testing.assert_allclose(y.numpy(), a2b.targets / 127.5 - 1, atol=1e-6)
    with pytest.raises(data.DataError, match="direction must be 'AtoB'.*'BtoA'"):
        data.open_paired(tmp_path, direction="up")


def test_jitter_and_flip_move_both_halves_alike(tmp_path):
    write_pairs(tmp_path, n=4)
    src = data.open_paired(tmp_path)
    # a pair whose target is its input: any difference would be a different crop/flip
    same = data.PairedImageSource(src.inputs, src.inputs.copy())
    ds = same.dataset(4, seed=3, jitter=True, flip=True, repeat=True)
    moved = False
    for x, y in ds.take(3):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
        assert x.shape == (4, 16, 16, 3) and np.abs(x.numpy()).max() <= 1.0
        moved |= not np.allclose(np.sort(x.numpy(), 0), np.sort(same.arrays()[0], 0), atol=1e-3)
    assert moved  # the jitter did change the images
    # a pure function of (seed, epoch): the same batches again, other ones for another seed
    a = [b[0].numpy() for b in src.dataset(2, seed=3, jitter=True, flip=True, repeat=True).take(2)]
    b = [b[0].numpy() for b in src.dataset(2, seed=3, jitter=True, flip=True, repeat=True).take(2)]
    c = [b[0].numpy() for b in src.dataset(2, seed=4, jitter=True, flip=True, repeat=True).take(2)]
    np.testing.assert_array_equal(a[0], b[0])
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))
    assert data.paired_source.jitter_load_size(256) == 286
    assert data.paired_source.jitter_load_size(128) == 143


def test_bad_pair_files_are_named(tmp_path):
    write_pairs(tmp_path, n=2)
    Image.fromarray(np.zeros((16, 31, 3), "uint8")).save(tmp_path / "train" / "3.jpg")
    with pytest.raises(data.DataError, match=r"3\.jpg is 31x16 pixels: a paired image must be "
                                             r"two equal halves"):
        data.open_paired(tmp_path)
    os.remove(tmp_path / "train" / "3.jpg")
    Image.fromarray(np.zeros((8, 16, 3), "uint8")).save(tmp_path / "train" / "3.jpg")
    with pytest.raises(data.DataError, match=r"3\.jpg has halves of 8x8 pixels.*resize"):
        data.open_paired(tmp_path)
    assert data.open_paired(tmp_path, resize=8).image_shape == (8, 8, 3)
    (tmp_path / "train" / "4.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(data.DataError, match=r"could not read paired image .*4\.jpg"):
        data.open_paired(tmp_path, resize=8)
    with pytest.raises(data.DataError, match="not found"):
        data.open_paired(tmp_path / "nothing")
    with pytest.raises(data.DataError, match="split 'val' not found; subfolders: train"):
        data.open_paired(tmp_path, split="val", resize=8)
    os.remove(tmp_path / "train" / "4.jpg")
    with pytest.raises(data.DataError, match="no class labels"):
        data.open_paired(tmp_path, resize=8).dataset(2, labels=True)


# ---------------------------------------------------------------- networks
def test_unet_shapes_skips_and_dropout():
    g = build_unet_generator(3, 3, depth=8, width=64)
    convs = [l for l in g.layers if isinstance(l, keras.layers.Conv2D)
             and not isinstance(l, keras.layers.Conv2DTranspose)]
    assert [l.filters for l in convs] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert encoder_channels(8) == [64, 128, 256, 512, 512, 512, 512, 512]
    assert 54.0e6 < g.count_params() < 54.5e6  # the reference unet_256 has 54.4M
    x = np.zeros((1, 256, 256, 3), "float32")
    assert g(x).shape == (1, 256, 256, 3)
    # every decoder block joins its encoder mirror
    skips = [l for l in g.layers if l.name.startswith("skip")]
    assert len(skips) == 7
    assert [l.name for l in g.layers if "dropout" in l.name] == \
        ["up6_dropout", "up5_dropout", "up4_dropout"]  # the first 3 decoder blocks
    # dynamic size: any multiple of 2**depth
    small = build_unet_generator(1, 3, depth=3, width=4)
    for shape in ((2, 8, 8, 1), (1, 16, 24, 1)):
        assert small(np.zeros(shape, "float32")).shape == (*shape[:3], 3)
    fixed = build_unet_generator(3, 3, depth=8, width=8, image_size=(256, 256))
    assert fixed.get_layer("down7").output.shape[1:3] == (1, 1)  # the bottleneck is 1x1


def test_patchgan_is_70x70_at_full_config():
    assert patchgan_receptive_field(3) == 70
    assert patchgan_receptive_field(1) == 16
    d = build_patchgan_discriminator((256, 256, 3), 3, width=64, n_layers=3)
    assert d.output_shape == (None, 30, 30, 1)  # as the reference code
    assert [l.filters for l in d.layers if isinstance(l, keras.layers.Conv2D)] == \
        [64, 128, 256, 512, 1]
    # measured: one output unit sees exactly a 70x70 window of the input
    d = build_patchgan_discriminator((128, 128, 1), 1, width=2, n_layers=3)
    x = tf.Variable(tf.zeros((1, 128, 128, 1)))
    with tf.GradientTape() as tape:
        out = d([x, tf.zeros((1, 128, 128, 1))], training=False)[0, 7, 7, 0]
    seen = np.argwhere(np.abs(tape.gradient(out, x).numpy()[0, ..., 0]) > 0)
    extent = seen.max(0) - seen.min(0) + 1
    assert tuple(extent) == (70, 70)


def test_bad_configurations_are_clear():
    with pytest.raises(ValueError, match="multiples of 8, got 12x12"):
        Pix2Pix(image_shape=(12, 12, 3), depth=3, width=4, d_width=4, d_layers=1)
    with pytest.raises(ValueError, match="d_steps must be 1"):
        tiny(d_steps=2)
    with pytest.raises(ValueError, match="normalization"):
        tiny(normalization="layer")
    with pytest.raises(ValueError, match="PatchGAN needs images of at least 24"):
        Pix2Pix(image_shape=(16, 16, 3), width=4, d_width=4, d_layers=3)


# ----------------------------------------------------------------- training
def test_losses_are_the_formula():
    real = tf.constant([[[[2.0]], [[-1.0]]], [[[0.5]], [[0.0]]]])  # (2, 2, 1, 1) patch maps
    fake = tf.constant([[[[-3.0]], [[1.0]]], [[[0.0]], [[4.0]]]])
    softplus = lambda v: np.log1p(np.exp(v))
    d = discriminator_loss(real, fake).numpy()
    r, f = real.numpy().reshape(2, -1), fake.numpy().reshape(2, -1)
    np.testing.assert_allclose(d, 0.5 * (softplus(-r).mean(1) + softplus(f).mean(1)), rtol=1e-6)
    targets = np.full((2, 2, 2, 1), 0.5, "float32")
    images = np.zeros((2, 2, 2, 1), "float32")
    images[1] = -0.5
    total, adversarial, l1 = (t.numpy() for t in generator_loss(fake, targets, images, 100.0))
    np.testing.assert_allclose(adversarial, softplus(-f).mean(1), rtol=1e-6)
    np.testing.assert_allclose(l1, [0.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(total, adversarial + 100 * l1, rtol=1e-6)


def test_step_logs_the_losses_of_its_forward_passes(images_8x8):
    """With SGD(0) nothing moves and dropout off, the logged losses are the
    formula on the networks' training-mode outputs."""
    gan = tiny(seed=0, dropout=0.0)
    gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))
    x, y = tf.constant(images_8x8[:16]), tf.constant(images_8x8[:16, ::-1])
    logs = gan.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), verbose=0).history
    fake = gan.generator(x, training=True)
    d = discriminator_loss(gan.discriminator([x, y], training=True),
                           gan.discriminator([x, fake], training=True))
    total, adversarial, l1 = generator_loss(gan.discriminator([x, fake], training=True), y, fake)
    assert logs["d_loss"][0] == pytest.approx(float(np.mean(d)), rel=1e-4)
    assert logs["g_loss"][0] == pytest.approx(float(np.mean(total)), rel=1e-4)
    assert logs["l1"][0] == pytest.approx(float(np.mean(l1)), rel=1e-4)
    assert logs["g_gan"][0] == pytest.approx(float(np.mean(adversarial)), rel=1e-4)


def test_defaults_follow_the_paper():
    gan = tiny()
    gan.compile()
    assert gan.l1_weight == 100.0 and gan.dropout == 0.5
    for opt in (gan.g_optimizer, gan.d_optimizer):
        assert float(opt.learning_rate) == pytest.approx(2e-4)
        assert float(opt.beta_1) == pytest.approx(0.5) and float(opt.beta_2) == pytest.approx(0.999)
    assert gan.g_loss_fn is kerasgan.losses.non_saturating_generator_loss
    assert gan.latent_dim is None and gan.image_conditioned


def test_fit_on_the_loader_and_translate(tmp_path):
    write_pairs(tmp_path, n=4, size=16)
    src = data.open_paired(tmp_path, direction="BtoA")
    gan = Pix2Pix(image_shape=(16, 16, 3), width=4, d_width=4, d_layers=1, seed=0)
    gan.compile()
    g0 = [w.numpy().copy() for w in gan.generator.trainable_weights]
    d0 = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    gan.fit(src.dataset(2, seed=0, jitter=True, flip=True), epochs=1, verbose=0)
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(g0, gan.generator.trainable_weights))
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(d0, gan.discriminator.trainable_weights))
    inputs, targets = src.arrays()
    out = gan.translate(inputs)
    assert out.shape == (4, 16, 16, 3)
    np.testing.assert_array_equal(gan.generate(inputs), out)  # generate(images) is translate
    np.testing.assert_array_equal(gan.translate(inputs[0]), out[:1])  # one image
    assert gan.translate(np.zeros((1, 32, 48, 3), "float32")).shape == (1, 32, 48, 3)
    grid, nrow = gan.triplets(inputs[:2], targets[:2])
    assert nrow == 3 and grid.shape == (6, 16, 16, 3)
    np.testing.assert_array_equal(grid[2], targets[0])
    # PSNR / SSIM against the baselines
    scores = paired_scores(gan, src)
    assert scores["num_pairs"] == 4 and np.isfinite(scores["psnr"]) and -1 <= scores["ssim"] <= 1
    base = baseline_scores(src, src)
    assert set(base) == {"input", "mean"}
    p, s = image_scores(targets, targets)
    assert np.all(p == 100.0) and np.allclose(s, 1.0)


# ------------------------------------------------------------------- export
def test_export_takes_images_of_any_batch_and_size(tmp_path):
    gan = tiny(seed=0)
    rng = np.random.default_rng(1)
    for w in gan.generator.weights:  # move every weight, so a wrong one shows
        w.assign(w.numpy() + 0.1 * rng.standard_normal(w.shape).astype("float32"))
    report = export.export_onnx(gan, tmp_path / "p.onnx")
    sm = export.export_saved_model(gan, tmp_path / "p_sm")
    assert report["parity"]["onnxruntime"] <= 1e-4 and sm["parity"]["saved_model"] <= 1e-4
    meta = export.read_metadata(tmp_path / "p.onnx")
    assert meta["inputs"][0]["sampler"] == "image" and meta["inputs"][0]["shape"] == [None, None, 1]
    assert meta["inputs"][0]["size_multiple"] == 8 and meta["latent_dim"] is None
    assert meta["image_shape"] == [8, 8, 1] and meta["outputs"][0]["shape"] == [None, None, 1]
    proto = onnx.load(tmp_path / "p.onnx")
    dims = [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim[:3]]
    assert dims == ["batch", "height", "width"]
    kit = OnnxGenerator(tmp_path / "p.onnx")
    loaded = tf.saved_model.load(str(tmp_path / "p_sm"))
    for shape in ((1, 8, 8, 1), (5, 8, 8, 1), (3, 16, 24, 1)):
        x = rng.uniform(-1, 1, shape).astype("float32")
        expected = gan.translate(x)
        assert expected.shape == shape
        np.testing.assert_allclose(kit.translate(x), expected, atol=1e-4)
        got = loaded.signatures["serving_default"](inputs=tf.constant(x))["images"].numpy()
        np.testing.assert_allclose(got, expected, atol=1e-4)
    with pytest.raises(ValueError, match="multiples of 8"):
        kit.translate(np.zeros((1, 12, 8, 1), "float32"))
    with pytest.raises(ValueError, match="1 channels"):
        kit.translate(np.zeros((1, 8, 8, 3), "float32"))


# --------------------------------------------------------------- bad input
def test_bad_input_is_clear(images_8x8):
    gan = tiny(seed=0)
    gan.compile()
    with pytest.raises(ValueError, match="multiples of 8.*resize or pad"):
        gan.translate(np.zeros((1, 12, 12, 1), "float32"))
    with pytest.raises(ValueError, match="must have 1 channels.*got 3"):
        gan.translate(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="uint8 pixels"):
        gan.translate(np.zeros((1, 8, 8, 1), "uint8"))
    with pytest.raises(ValueError, match=r"must be in \[-1, 1\]"):
        gan.translate(np.full((1, 8, 8, 1), 5.0, "float32"))
    with pytest.raises(ValueError, match="pass input images, not a count"):
        gan.translate(4)
    # data: single images, other channel counts, other sizes, out of range
    with pytest.raises(ValueError, match=r"learns from image pairs.*\(inputs, targets\)"):
        gan.fit(tf.data.Dataset.from_tensor_slices(images_8x8).batch(8), verbose=0)
    rgb = np.repeat(images_8x8, 3, axis=-1)
    with pytest.raises(ValueError, match="targets have 3 channels, the model takes 1"):
        gan.fit(tf.data.Dataset.from_tensor_slices((images_8x8, rgb)).batch(8), verbose=0)
    big = np.zeros((8, 16, 16, 1), "float32")
    with pytest.raises(ValueError, match="inputs are 16x16, the model was built for 8x8"):
        gan.fit(tf.data.Dataset.from_tensor_slices((big, big)).batch(8), verbose=0)
    with pytest.raises(ValueError, match=r"bad data batch: images must be floats in \[-1, 1\]"):
        gan.fit(tf.data.Dataset.from_tensor_slices((images_8x8 * 300, images_8x8)).batch(8),
                verbose=0)
    # domains with different channel counts train when the model is built for them
    mixed = Pix2Pix(image_shape=(8, 8, 3), input_channels=1, width=4, d_width=4, d_layers=1)
    mixed.compile()
    mixed.fit(tf.data.Dataset.from_tensor_slices((images_8x8, rgb)).batch(8).take(1), verbose=0)
    assert mixed.translate(images_8x8[:2]).shape == (2, 8, 8, 3)
    assert mixed.triplets(images_8x8[:1], rgb[:1])[0].shape == (3, 8, 8, 3)


def test_facades_pairs_read_as_documented():
    require(FACADES, "facades data (../shared/data/facades)")
    src = data.open_paired(FACADES, split="test", direction="BtoA", resize=64, limit=3)
    assert src.image_shape == (64, 64, 3) and len(src) == 3
    # BtoA: the inputs are the label maps (right halves; mostly blue), the
    # targets the photos (left halves)
    blue = lambda a: float(a[..., 2].mean() - a[..., 0].mean())
    assert blue(src.inputs) > 50 > blue(src.targets)


def test_cli_recipe_train_sample_evaluate(tmp_path, capsys):
    from kerasgan.cli import main

    write_pairs(tmp_path / "data", "train", n=4, size=16)
    write_pairs(tmp_path / "data", "test", n=3, size=16)
    run = str(tmp_path / "run")
    assert main(["train", "pix2pix", "--data", str(tmp_path / "data"), "--direction", "BtoA",
                 "--jitter", "--flip", "--resize", "32", "--epochs", "1", "--batch-size", "2",
                 "--width", "4", "--d-width", "4", "--out", run, "--quiet"]) == 0
    assert os.path.exists(os.path.join(run, "samples", "epoch_0001.png"))
    assert main(["sample", run, "--n", "3", "--out", str(tmp_path / "t.png")]) == 0
    assert Image.open(tmp_path / "t.png").size == (3 * 34 + 2, 3 * 34 + 2)  # 3 rows of 3
    assert main(["evaluate", run, "--metrics", "psnr,ssim"]) == 0
    assert "baseline input" in capsys.readouterr().out
    assert main(["train", "dcgan", "--direction", "BtoA", "--out", str(tmp_path / "x")]) == 2
    assert "it is an option of image-to-image families" in capsys.readouterr().err
