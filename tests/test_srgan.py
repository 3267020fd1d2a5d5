"""SRGAN: SRResNet generator, sub-pixel up-sampling, discriminator, content
losses (pixel / VGG19 from a local file, never downloaded), super-resolution
data, export at several sizes, CLI recipe, bad input."""

import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasgan import data, export
from kerasgan.layers import SubPixelUpsampling
from kerasgan.metrics.paired import baseline_scores, image_scores
from kerasgan.models import SRGAN
from kerasgan.models import srgan as srgan_lib

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "export"))
from onnx_generator import OnnxGenerator  # noqa: E402


def tiny(**overrides):
    return SRGAN(**dict(SRGAN.tiny_config, **overrides))


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch):
    """Nothing here may download: keras.utils.get_file fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"keras.utils.get_file called: {args} {kwargs}")

    monkeypatch.setattr(keras.utils, "get_file", refuse)
    import keras.src.applications.vgg19 as vgg19_module

    monkeypatch.setattr(vgg19_module.file_utils, "get_file", refuse)


def hr_images(n=8, size=8, channels=1, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, (n, size, size, channels)).astype("float32")


# ------------------------------------------------------------------ networks
def test_generator_is_x4_fully_convolutional_with_the_paper_layout():
    g = srgan_lib.build_srresnet_generator(3, 3, scale=4, width=4, n_blocks=2)
    for shape in ((2, 8, 8, 3), (1, 5, 7, 3)):
        out = g(np.zeros(shape, "float32"))
        assert tuple(out.shape) == (shape[0], 4 * shape[1], 4 * shape[2], 3)
    assert [type(lay).__name__ for lay in g.layers].count("SubPixelUpsampling") == 2
    assert len([lay for lay in g.layers if lay.name.endswith("_add")]) == 2
    assert g.get_layer("in_conv").kernel_size == (9, 9) and g.get_layer("to_image").kernel_size == (9, 9)
    assert g.get_layer("up0_conv").filters == 16  # 4 * width before the x2 shuffle
    # the paper's B=16, 64 channels: about 1.5M parameters
    full = srgan_lib.build_srresnet_generator()
    assert 1.50e6 < full.count_params() < 1.56e6
    with pytest.raises(ValueError, match="power of two"):
        srgan_lib.build_srresnet_generator(scale=3)


def test_sub_pixel_layer_is_depth_to_space():
    x = np.random.RandomState(0).standard_normal((2, 3, 5, 12)).astype("float32")
    for r in (2,):
        np.testing.assert_array_equal(SubPixelUpsampling(r)(x).numpy(),
                                      tf.nn.depth_to_space(x, r).numpy())
    y = np.random.RandomState(1).standard_normal((1, 2, 2, 18)).astype("float32")
    np.testing.assert_array_equal(SubPixelUpsampling(3)(y).numpy(),
                                  tf.nn.depth_to_space(y, 3).numpy())
    with pytest.raises(ValueError, match="multiple of 4"):
        SubPixelUpsampling(2)(np.zeros((1, 2, 2, 6), "float32"))
    layer = SubPixelUpsampling.from_config(SubPixelUpsampling(2).get_config())
    assert layer.block_size == 2


def test_discriminator_is_the_papers_8_convs_and_2_dense():
    d = srgan_lib.build_srgan_discriminator((96, 96, 3))
    convs = [lay for lay in d.layers if isinstance(lay, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.strides[0] for c in convs] == [1, 2] * 4
    assert d.get_layer("flatten").output.shape[-1] == 6 * 6 * 512
    assert d.get_layer("dense").units == 1024 and d.output_shape == (None, 1)
    assert d.get_layer("conv0_lrelu").negative_slope == pytest.approx(0.2)


# -------------------------------------------------------------- content loss
def test_pixel_content_loss_is_the_mse():
    a, b = hr_images(3, seed=1), hr_images(3, seed=2)
    got = srgan_lib.pixel_content_loss(a, b).numpy()
    np.testing.assert_allclose(got, ((a - b) ** 2).reshape(3, -1).mean(1), rtol=1e-5)
    total, adv = srgan_lib.generator_loss(got, np.zeros((3, 1), "float32"), 1e-3)
    np.testing.assert_allclose(total.numpy(), got + 1e-3 * np.log(2.0), rtol=1e-5)


def test_feature_content_loss_is_scaled_feature_mse():
    feats = keras.Sequential([keras.Input((None, None, 3)),
                              keras.layers.Conv2D(2, 3, padding="same")])
    a, b = hr_images(2, channels=3, seed=1), hr_images(2, channels=3, seed=2)
    got = srgan_lib.feature_content_loss(feats, a, b, scale=0.5).numpy()
    fa = feats(srgan_lib.vgg_preprocess(a)).numpy() * 0.5
    fb = feats(srgan_lib.vgg_preprocess(b)).numpy() * 0.5
    np.testing.assert_allclose(got, ((fa - fb) ** 2).reshape(2, -1).mean(1), rtol=1e-4)
    # Caffe preprocessing: 0..255, BGR, means subtracted
    white = srgan_lib.vgg_preprocess(np.ones((1, 1, 1, 3), "float32")).numpy().ravel()
    np.testing.assert_allclose(white, [255 - 103.939, 255 - 116.779, 255 - 123.68], rtol=1e-5)


def test_vgg19_from_a_local_weights_file(tmp_path):
    # a stand-in for the ImageNet file: random VGG19 weights saved locally
    path = str(tmp_path / "vgg19_notop.weights.h5")
    keras.applications.VGG19(include_top=False, weights=None,
                             input_shape=(None, None, 3)).save_weights(path)
    gan = tiny(image_shape=(16, 16, 3), content="vgg19", vgg_weights=path)
    gan.compile()
    net = gan.content_network
    assert net.output.shape[-1] == 512 and net.layers[-1].name == "block5_conv4"
    assert not net.trainable_weights and net not in gan._flatten_layers()
    a, b = hr_images(2, 16, 3, seed=1), hr_images(2, 16, 3, seed=2)
    expected = ((net(srgan_lib.vgg_preprocess(a)).numpy() - net(srgan_lib.vgg_preprocess(b)).numpy())
                / 12.75) ** 2
    np.testing.assert_allclose(gan.content_loss(a, b).numpy(),
                               expected.reshape(2, -1).mean(1), rtol=1e-3, atol=1e-6)
    assert gan.content_description().startswith("vgg19:block5_conv4/12.75 (weights ")
    assert gan.get_config()["content"] == "vgg19"


def test_missing_vgg19_weights_is_a_clear_error_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(srgan_lib.os.path, "isfile",
                        lambda p, _f=os.path.isfile: _f(p) and not p.startswith("/tmp/.keras"))
    gan = tiny(image_shape=(8, 8, 3), content="vgg19")
    with pytest.raises(ValueError, match="needs the VGG19 ImageNet weights.*does not download"
                                         ".*vgg_weights=PATH.*content='pixel'"):
        gan.compile()
    with pytest.raises(ValueError, match="VGG19 weights file nope.h5 not found"):
        tiny(image_shape=(8, 8, 3), content="vgg19", vgg_weights="nope.h5").compile()
    with pytest.raises(ValueError, match="content must be one of"):
        tiny(content="vgg")


# ---------------------------------------------------------------- training
def test_fit_step_with_a_plugged_feature_network_updates_both(monkeypatch, tmp_path):
    tiny_features = keras.Sequential([keras.Input((None, None, 3)),
                                      keras.layers.Conv2D(4, 3, padding="same", name="f")])
    monkeypatch.setattr(srgan_lib, "find_vgg19_weights", lambda path=None: "/fake/vgg19.h5")
    monkeypatch.setattr(srgan_lib, "build_vgg19_features", lambda path, layer: tiny_features)
    gan = tiny(content="vgg19", seed=0)
    gan.compile()
    assert gan.content_network is tiny_features
    hr = hr_images(8)
    ds = tf.data.Dataset.from_tensor_slices((data.downscale(hr, 4).numpy(), hr)).batch(4)
    g0 = [w.numpy().copy() for w in gan.generator.weights]
    d0 = [w.numpy().copy() for w in gan.discriminator.weights]
    f0 = [w.numpy().copy() for w in tiny_features.weights]
    logs = gan.fit(ds.take(1), epochs=1, verbose=0).history
    assert set(logs) == {"g_loss", "d_loss", "content", "g_gan", "r_t"}
    np.testing.assert_allclose(logs["g_loss"][0], logs["content"][0] + 1e-3 * logs["g_gan"][0],
                               rtol=1e-4)
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(g0, gan.generator.weights))
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(d0, gan.discriminator.weights))
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(f0, tiny_features.weights))
    # saved without the content network; loads for inference without the weights
    monkeypatch.undo()
    path = str(tmp_path / "g.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.content == "vgg19" and loaded.content_network is None
    x = data.downscale(hr[:2], 4).numpy()
    np.testing.assert_allclose(loaded.translate(x), gan.translate(x), atol=1e-6)
    with pytest.raises(ValueError, match="VGG19"):
        loaded.fit(ds.take(1), verbose=0)


def test_defaults_follow_the_paper():
    gan = SRGAN(image_shape=(96, 96, 3), seed=0)
    assert gan.n_blocks == 16 and gan.width == 64 and gan.scale == 4 and gan.d_dense == 1024
    assert gan.adversarial_weight == pytest.approx(1e-3) and gan.content == "pixel"
    assert gan.content_scale == pytest.approx(1 / 12.75)
    assert gan.input_shape_ == (24, 24, 3)
    g_opt, _ = gan.default_optimizers()
    assert float(g_opt.learning_rate) == pytest.approx(1e-4) and g_opt.beta_1 == pytest.approx(0.9)


# -------------------------------------------------------------------- data
def test_super_resolution_pairs_are_bicubic_antialiased_downsampling():
    hr8 = np.random.RandomState(0).randint(0, 256, (6, 16, 16, 3)).astype("uint8")
    src = data.SuperResolutionSource(hr8, scale=4, name="t")
    assert src.image_shape == (4, 4, 3) and src.target_shape == (16, 16, 3) and len(src) == 6
    lr, hr = src.arrays(0, 3)
    expected = tf.image.resize(hr8[:3] / 127.5 - 1.0, (4, 4), method="bicubic", antialias=True)
    np.testing.assert_allclose(lr, np.clip(expected.numpy(), -1, 1), atol=1e-5)
    const = np.full((1, 8, 8, 1), 0.25, "float32")
    np.testing.assert_allclose(data.downscale(const, 4).numpy(), 0.25, atol=1e-5)
    lr_b, hr_b = next(iter(src.dataset(3, seed=0, flip=True)))
    np.testing.assert_allclose(lr_b.numpy(), data.downscale(hr_b, 4).numpy(), atol=1e-6)
    with pytest.raises(data.DataError, match="multiples of 4"):
        data.SuperResolutionSource(hr8[:, :15, :15], scale=4)


def test_bicubic_baseline_is_computed_as_documented():
    hr8 = np.random.RandomState(0).randint(0, 256, (5, 16, 16, 3)).astype("uint8")
    src = data.SuperResolutionSource(hr8, scale=4)
    lr, hr = src.arrays()
    up = tf.clip_by_value(tf.image.resize(lr, (16, 16), method="bicubic"), -1, 1).numpy()
    np.testing.assert_allclose(data.bicubic_upscale(lr, 4), up, atol=1e-6)
    psnr, ssim = image_scores(up, hr)
    base = baseline_scores(src)
    assert set(base) == {"bicubic"}
    assert base["bicubic"]["psnr"] == pytest.approx(psnr.mean(), rel=1e-6)
    assert base["bicubic"]["ssim"] == pytest.approx(ssim.mean(), rel=1e-6)
    assert base["bicubic"]["num_pairs"] == 5


# ------------------------------------------------------------------ export
def test_export_takes_low_res_images_of_any_batch_and_size(tmp_path):
    gan = tiny(seed=0)
    rng = np.random.default_rng(1)
    for w in gan.generator.weights:  # move every weight, so a wrong one shows
        w.assign(w.numpy() + 0.1 * rng.standard_normal(w.shape).astype("float32"))
    report = export.export_onnx(gan, tmp_path / "s.onnx")
    sm = export.export_saved_model(gan, tmp_path / "s_sm")
    assert report["parity"]["onnxruntime"] <= 1e-4 and sm["parity"]["saved_model"] <= 1e-4
    meta = export.read_metadata(tmp_path / "s.onnx")
    assert meta["family"] == "srgan" and meta["scale"] == 4
    assert meta["content_network"] == "pixel-mse"
    assert meta["inputs"][0]["shape"] == [None, None, 1] and meta["inputs"][0]["default_shape"] == [2, 2, 1]
    assert meta["image_shape"] == [8, 8, 1] and meta["outputs"][0]["shape"] == [None, None, 1]
    assert export.read_metadata(tmp_path / "s_sm")["content_network"] == "pixel-mse"
    kit = OnnxGenerator(tmp_path / "s.onnx")
    loaded = tf.saved_model.load(str(tmp_path / "s_sm"))
    for shape in ((1, 2, 2, 1), (5, 2, 2, 1), (3, 5, 7, 1)):
        x = rng.uniform(-1, 1, shape).astype("float32")
        expected = gan.translate(x)
        assert expected.shape == (shape[0], 4 * shape[1], 4 * shape[2], 1)
        np.testing.assert_allclose(kit.translate(x), expected, atol=1e-4)
        got = loaded.signatures["serving_default"](inputs=tf.constant(x))["images"].numpy()
        np.testing.assert_allclose(got, expected, atol=1e-4)
    with pytest.raises(ValueError, match="1 channels"):
        kit.translate(np.zeros((1, 2, 2, 3), "float32"))


# --------------------------------------------------------------- bad input
def test_bad_input_is_clear():
    gan = tiny(seed=0)
    gan.compile()
    with pytest.raises(ValueError, match="must have 1 channels.*got 3"):
        gan.translate(np.zeros((1, 2, 2, 3), "float32"))
    with pytest.raises(ValueError, match="uint8 pixels"):
        gan.translate(np.zeros((1, 2, 2, 1), "uint8"))
    hr = hr_images(8)
    # low-res inputs of the wrong size (here: not down-sampled at all)
    with pytest.raises(ValueError, match="inputs are 8x8, the model takes 2x2 low-res inputs and "
                                         "8x8 high-res targets"):
        gan.fit(tf.data.Dataset.from_tensor_slices((hr, hr)).batch(4), verbose=0)
    lr = data.downscale(hr, 2).numpy()
    with pytest.raises(ValueError, match="inputs are 4x4.*open_super_resolution"):
        gan.fit(tf.data.Dataset.from_tensor_slices((lr, hr)).batch(4), verbose=0)
    with pytest.raises(ValueError, match="learns from image pairs"):
        gan.fit(tf.data.Dataset.from_tensor_slices(hr).batch(4), verbose=0)
    with pytest.raises(ValueError, match="power of two"):
        tiny(scale=3)
    with pytest.raises(ValueError, match="multiples of 4, got 10x10"):
        tiny(image_shape=(10, 10, 1))


# -------------------------------------------------------------------- CLI
def write_images(root, n=4, size=16):
    rng = np.random.RandomState(0)
    for split in ("train", "test"):
        folder = os.path.join(root, split, "a")
        os.makedirs(folder)
        for i in range(n):
            Image.fromarray(rng.randint(0, 256, (size, size, 3)).astype("uint8")).save(
                os.path.join(folder, f"{i}.png"))


def test_cli_recipe_train_sample_evaluate(tmp_path, capsys):
    from kerasgan.cli import main

    write_images(str(tmp_path / "imgs"))
    run = str(tmp_path / "run")
    assert main(["train", "srgan", "--data", str(tmp_path / "imgs"), "--scale", "4",
                 "--content", "pixel", "--flip", "--epochs", "1", "--batch-size", "2",
                 "--width", "4", "--d-width", "2", "--n-blocks", "1", "--out", run,
                 "--quiet"]) == 0
    assert os.path.exists(os.path.join(run, "samples", "epoch_0001.png"))
    assert main(["sample", run, "--n", "3", "--out", str(tmp_path / "t.png")]) == 0
    assert Image.open(tmp_path / "t.png").size == (4 * 18 + 2, 3 * 18 + 2)  # 3 rows of 4
    assert main(["evaluate", run, "--metrics", "psnr,ssim"]) == 0
    assert "baseline bicubic" in capsys.readouterr().out
    assert main(["train", "srgan", "--data", str(tmp_path / "imgs"), "--content", "vgg19",
                 "--vgg-weights", str(tmp_path / "missing.h5"), "--out", str(tmp_path / "x")]) == 2
    assert "VGG19 weights file" in capsys.readouterr().err
    assert main(["train", "dcgan", "--scale", "4", "--out", str(tmp_path / "y")]) == 2
    assert "--scale does not apply to dcgan: it is an option of srgan" in capsys.readouterr().err
