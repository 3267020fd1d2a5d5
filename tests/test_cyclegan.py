"""CycleGAN: the unpaired loader, the ResNet generator, the losses, the image
pool (alone and under MirroredStrategy), one step, export of both directions,
the CLI recipe and bad input.

Tiny configurations and tiny images in ``tmp_path``. The family is also in the
generic per-family tests (test_gan, test_export, test_precision,
test_distribution) through its ``tiny_config``.
"""

import json
import os
import sys

import keras
import numpy as np
import onnx
import pytest
import tensorflow as tf
from PIL import Image

from kerasgan import data, export
from kerasgan.layers import ImagePool, ReflectionPadding2D
from kerasgan.models import CycleGAN
from kerasgan.models.cyclegan import (
    build_resnet_generator, default_blocks, generator_loss, lsgan_discriminator_loss,
    lsgan_generator_loss,
)

from conftest import REPO
from test_pix2pix import write_pairs

sys.path.insert(0, os.path.join(REPO, "export"))
from onnx_generator import OnnxGenerator  # noqa: E402


def tiny(**overrides):
    return CycleGAN(**dict(CycleGAN.tiny_config, **overrides))


def write_folder(folder, n, size=16, mode="RGB", shade=0):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        shape = (size, size, 3) if mode == "RGB" else (size, size)
        Image.fromarray(np.full(shape, shade + 10 * i, "uint8"), mode).save(folder / f"{i}.png")


# ----------------------------------------------------------------- the loader
def test_unpaired_loader_shuffles_each_domain_on_its_own(tmp_path):
    left, right = write_pairs(tmp_path, n=6, size=16)
    src = data.open_unpaired(tmp_path)  # facades format: the two halves
    assert src.aligned and len(src) == 6 and src.image_shape == (16, 16, 3)
    assert np.abs(src.a.astype(int) - left).mean() < 4  # A: left halves
    assert np.abs(src.b.astype(int) - right).mean() < 4
    # pair i is told apart by its green channel (20 i on the left, 200 - 20 i on the right)
    ids_a = lambda x: np.round((x[..., 1].mean((1, 2)) + 1) * 127.5 / 20).astype(int)  # noqa: E731
    ids_b = lambda x: np.round((200 - (x[..., 1].mean((1, 2)) + 1) * 127.5) / 20).astype(int)  # noqa: E731
    seen_a, seen_b = [], []
    for a, b in src.dataset(6, seed=1, repeat=True).take(4):
        seen_a.append(ids_a(a.numpy()))
        seen_b.append(ids_b(b.numpy()))
    for order in seen_a + seen_b:  # each epoch is a permutation of its domain
        assert sorted(order) == list(range(6))
    # ... and the two domains' orders are independent: not the pairs
    assert any(not np.array_equal(x, y) for x, y in zip(seen_a, seen_b))
    again = [ids_a(a.numpy()) for a, _ in src.dataset(6, seed=1, repeat=True).take(4)]
    np.testing.assert_array_equal(seen_a, again)  # a pure function of the seed
    other = [ids_a(a.numpy()) for a, _ in src.dataset(6, seed=2, repeat=True).take(4)]
    assert not np.array_equal(seen_a, other)
    # jitter and flip per domain: shapes and range kept, images moved
    a, b = next(iter(src.dataset(3, seed=0, jitter=True, flip=True)))
    assert a.shape == b.shape == (3, 16, 16, 3) and np.abs(a.numpy()).max() <= 1.0


def test_two_folders_of_different_sizes_and_channel_mismatch(tmp_path):
    write_folder(tmp_path / "trainA", 3, shade=0)
    write_folder(tmp_path / "trainB", 5, shade=100)
    src = data.open_unpaired(tmp_path)  # the CycleGAN trainA/trainB layout
    assert (len(src.a), len(src.b), len(src)) == (3, 5, 5) and not src.aligned
    a, b = next(iter(src.dataset(5, shuffle=False)))
    # the shorter domain cycles through its own order
    np.testing.assert_allclose(a.numpy()[:, 0, 0, 0], (np.array([0, 10, 20, 0, 10]) / 127.5 - 1))
    assert b.shape == (5, 16, 16, 3)
    # two folders given explicitly, one of them gray: the error names both
    write_folder(tmp_path / "gray", 2, mode="L")
    with pytest.raises(data.DataError, match=r"different channel counts: A \(.*trainA\) has 3 .*"
                                             r"B \(.*gray\) has 1.*channels=1 or channels=3"):
        data.open_unpaired(tmp_path / "trainA", tmp_path / "gray")
    both = data.open_unpaired(tmp_path / "trainA", tmp_path / "gray", channels=3)
    assert both.image_shape == (16, 16, 3)
    with pytest.raises(data.DataError, match="different channel counts"):
        data.UnpairedImageSource(np.zeros((2, 8, 8, 1), "uint8"), np.zeros((2, 8, 8, 3), "uint8"))
    with pytest.raises(data.DataError, match="domain B .* not found"):
        data.open_unpaired(tmp_path / "trainA", tmp_path / "nothing")
    with pytest.raises(data.DataError, match="no class labels"):
        src.dataset(2, labels=True)


# ---------------------------------------------------------------- networks
def test_resnet_generator_is_the_papers():
    g = build_resnet_generator(3, 3, width=64, n_blocks=9)
    # the reference resnet_9blocks has 11,378,179: less the 5,248 biases that
    # instance norm cancels (the convs before a norm have none here)
    assert g.count_params() == 11378179 - 5248
    assert all(not l.use_bias for l in g.layers[:-3] if isinstance(l, keras.layers.Conv2D))
    convs = [l for l in g.layers if type(l) is keras.layers.Conv2D]
    assert [l.filters for l in convs[:3]] == [64, 128, 256]  # c7s1-64, d128, d256
    assert [l.kernel_size for l in convs[:3]] == [(7, 7), (3, 3), (3, 3)]
    assert len([l for l in g.layers if l.name.endswith("_add")]) == 9
    ups = [l.filters for l in g.layers if isinstance(l, keras.layers.Conv2DTranspose)]
    assert ups == [128, 64] and convs[-1].filters == 3 and convs[-1].kernel_size == (7, 7)
    assert any(isinstance(l, ReflectionPadding2D) for l in g.layers)
    assert g.layers[-1].activation is keras.activations.tanh
    assert default_blocks((256, 256, 3)) == 9 and default_blocks((128, 128, 3)) == 6
    small = build_resnet_generator(1, 1, width=4, n_blocks=1)
    for shape in ((2, 8, 8, 1), (1, 12, 20, 1)):  # any multiple of 4 from 8
        assert small(np.zeros(shape, "float32")).shape == shape
    from kerasgan.models.pix2pix import build_patch_discriminator

    d = build_patch_discriminator((256, 256, 3), 64, 3, "instance")
    assert d.output_shape == (None, 30, 30, 1)  # the 70x70 PatchGAN, unconditional
    assert len(d.inputs) == 1 and 2.76e6 < d.count_params() < 2.77e6  # reference: 2.765M
    gan = tiny()
    assert gan.discriminator_a is not gan.discriminator and gan.generator_ba is not gan.generator
    pad = ReflectionPadding2D(2)
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(pad(x).numpy()[0, :, :, 0],
                                  np.pad(x[0, :, :, 0], 2, mode="reflect"))


# ------------------------------------------------------------------ losses
def test_losses_are_the_formula():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(2, 3, 3, 1)), rng.normal(size=(2, 3, 3, 1))
    mse = lambda x, t: ((x - t) ** 2).reshape(2, -1).mean(1)  # noqa: E731
    np.testing.assert_allclose(lsgan_generator_loss(fake), mse(fake, 1), rtol=1e-6)
    np.testing.assert_allclose(lsgan_discriminator_loss(real, fake),
                               0.5 * (mse(real, 1) + mse(fake, 0)), rtol=1e-6)
    img = lambda: rng.uniform(-1, 1, (2, 4, 4, 1)).astype("float32")  # noqa: E731
    a, ra, b, rb, ia, ib = (img() for _ in range(6))
    l1 = lambda x, y: np.abs(x - y).reshape(2, -1).mean(1)  # noqa: E731
    fb, fa = rng.normal(size=(2, 3, 3, 1)), rng.normal(size=(2, 3, 3, 1))
    total, adv, cyc, idt = (t.numpy() for t in generator_loss(fb, fa, a, ra, b, rb, ia, ib,
                                                                10.0, 5.0))
    np.testing.assert_allclose(adv, mse(fb, 1) + mse(fa, 1), rtol=1e-5)
    np.testing.assert_allclose(cyc, l1(ra, a) + l1(rb, b), rtol=1e-5)
    np.testing.assert_allclose(idt, l1(ia, a) + l1(ib, b), rtol=1e-5)
    np.testing.assert_allclose(total, adv + 10 * cyc + 5 * idt, rtol=1e-5)
    no_idt = generator_loss(fb, fa, a, ra, b, rb)[0].numpy()
    np.testing.assert_allclose(no_idt, adv + 10 * cyc, rtol=1e-5)
    gan = tiny()
    gan.compile()
    assert (gan.cycle_weight, gan.identity_weight, gan.pool_size) == (10.0, 5.0, 4)
    assert tiny(cycle_weight=4.0).identity_weight == 2.0
    for opt in (gan.g_optimizer, gan.d_optimizer):
        assert float(opt.learning_rate) == pytest.approx(2e-4)
        assert float(opt.beta_1) == pytest.approx(0.5)
    # one optimizer per pair of networks
    assert len(gan.g_optimizer.variables) > 2 * len(gan.generator.trainable_variables)


def test_step_logs_the_formula_on_its_forward_passes(images_8x8):
    """With SGD(0) nothing moves: the logged losses are the formula on the
    networks' outputs, with the D term on the pooled fakes (here the pool is
    filling, so the fakes themselves)."""
    gan = tiny(seed=0, pool_size=50)
    gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))
    a, b = images_8x8[:16], images_8x8[16:32, ::-1]
    logs = gan.fit(tf.data.Dataset.from_tensor_slices((a, b)).batch(16), verbose=0).history
    g_ab, g_ba, d_b, d_a = gan.generator, gan.generator_ba, gan.discriminator, gan.discriminator_a
    fb, fa = g_ab(a), g_ba(b)
    total, adv, cyc, idt = generator_loss(d_b(fb), d_a(fa), a, g_ba(fb), b, g_ab(fa),
                                          g_ba(a), g_ab(b), 10.0, 5.0)
    d = lsgan_discriminator_loss(d_b(b), d_b(fb)) + lsgan_discriminator_loss(d_a(a), d_a(fa))
    for key, value in (("g_loss", total), ("g_gan", adv), ("cycle", cyc), ("identity", idt),
                       ("d_loss", d)):
        assert logs[key][0] == pytest.approx(float(np.mean(value)), rel=1e-4), key
    assert int(gan.pool_a.count.numpy()) == 16
    np.testing.assert_allclose(gan.pool_b.images.numpy()[:16], fb.numpy(), atol=1e-5)


def test_one_fit_step_changes_all_four_networks(images_8x8):
    gan = tiny(seed=0)
    gan.compile()
    nets = [gan.generator, gan.generator_ba, gan.discriminator, gan.discriminator_a]
    before = [[w.numpy().copy() for w in n.trainable_weights] for n in nets]
    ds = tf.data.Dataset.from_tensor_slices((images_8x8, images_8x8[:, ::-1])).batch(8)
    logs = gan.fit(ds.take(1), verbose=0).history
    assert all(np.isfinite(v[0]) for v in logs.values())
    for net, old in zip(nets, before):
        assert any(not np.allclose(x, w.numpy()) for x, w in zip(old, net.trainable_weights)), \
            net.name


# -------------------------------------------------------------------- pool
def _reference_pool(images, coins, slots, size):
    """The reference code's ImagePool.query, image by image, with given draws."""
    pool, out = [], []
    for image, coin, slot in zip(images, coins, slots):
        if len(pool) < size:
            pool.append(image)
            out.append(image)
        elif coin < 0.5:
            out.append(pool[slot])
            pool[slot] = image
        else:
            out.append(image)
    return np.stack(out), np.stack(pool)


def test_pool_stores_then_swaps_with_p_half():
    size, batch = 6, 4
    pool = ImagePool(size, (2, 2, 1))
    seed = keras.random.SeedGenerator(3)
    rng = np.random.default_rng(0)
    given, swapped, kept = [], 0, 0
    for step in range(10):
        x = rng.uniform(-1, 1, (batch, 2, 2, 1)).astype("float32")
        out = pool(x, seed_generator=seed, training=True).numpy()
        given.append(x)
        if step == 0:  # the first images are stored and returned as they are
            np.testing.assert_array_equal(out, x)
            np.testing.assert_array_equal(pool.images.numpy()[:batch], x)
            assert int(pool.count.numpy()) == batch
        if step >= 2:  # full: each image comes back or swaps with a stored one
            same = np.all(out == x, axis=(1, 2, 3))
            swapped, kept = swapped + int(np.sum(~same)), kept + int(np.sum(same))
        assert np.isin(out, np.concatenate(given)).all()  # only images it was given
    assert int(pool.count.numpy()) == size
    assert 8 <= swapped <= 24 and 8 <= kept <= 24  # about half of 32 (p = 0.5)
    # inference: the identity, nothing stored
    x = np.full((2, 2, 2, 1), 7.0, "float32")
    np.testing.assert_array_equal(pool(x, training=False), x)
    assert not (pool.images.numpy() == 7.0).any()
    off = ImagePool(0, (2, 2, 1))  # pool_size 0: no pool
    np.testing.assert_array_equal(off(x, seed_generator=seed, training=True), x)


def test_pool_matches_the_reference_query_exactly():
    size = 5
    pool = ImagePool(size, (1, 1, 1))
    seed, shadow = keras.random.SeedGenerator(7), keras.random.SeedGenerator(7)
    images, coins, slots, outs = [], [], [], []
    for batch in (3, 4, 4, 2, 5):  # fills mid-batch, then swaps
        x = (np.arange(batch) + sum(len(i) for i in images) + 1).astype("float32")
        x = x.reshape(-1, 1, 1, 1) / 100.0
        coins.append(keras.random.uniform((batch,), seed=shadow).numpy())
        slots.append(keras.random.randint((batch,), 0, size, dtype="int32", seed=shadow).numpy())
        outs.append(pool(x, seed_generator=seed, training=True).numpy())
        images.append(x)
    expected, state = _reference_pool(np.concatenate(images), np.concatenate(coins),
                                      np.concatenate(slots), size)
    np.testing.assert_array_equal(np.concatenate(outs), expected)
    np.testing.assert_array_equal(pool.images.numpy(), state)
    # deterministic from the seed: a second pool with the same seed does the same
    again, seed2 = ImagePool(size, (1, 1, 1)), keras.random.SeedGenerator(7)
    outs2 = [again(x, seed_generator=seed2, training=True).numpy() for x in images]
    np.testing.assert_array_equal(np.concatenate(outs2), expected)


def test_pool_under_mirrored_strategy_equals_one_device(mirrored_strategy):
    """Two replicas, each with half of the global batch: the same outputs (in
    global order) and the same pool as one device, identical on both replicas."""
    size, batch = 6, 8
    rng = np.random.default_rng(1)
    batches = [rng.uniform(-1, 1, (batch, 2, 2, 1)).astype("float32") for _ in range(3)]

    def run(strategy):
        with strategy.scope():
            pool = ImagePool(size, (2, 2, 1))
            seed = keras.random.SeedGenerator(5)

        @tf.function
        def step(x):
            return strategy.run(lambda v: pool(v, seed_generator=seed, training=True), (x,))

        ds = strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensor_slices(np.concatenate(batches)).batch(batch))
        outs = [np.concatenate([t.numpy() for t in strategy.experimental_local_results(step(x))])
                for x in ds]
        return pool, np.concatenate(outs)

    single, out1 = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
    mirrored, out2 = run(mirrored_strategy)
    np.testing.assert_array_equal(out1, out2)
    np.testing.assert_array_equal(single.images.numpy(), mirrored.images.numpy())
    assert int(mirrored.count.numpy()) == size
    copies = mirrored.images.value.values
    np.testing.assert_array_equal(copies[0].numpy(), copies[1].numpy())
    assert not np.array_equal(out1, np.concatenate(batches))  # some were swapped


# ------------------------------------------------------------------- export
def test_both_directions_export_with_parity(tmp_path):
    gan = tiny(seed=0, n_downsampling=2)
    rng = np.random.default_rng(1)
    for net in (gan.generator, gan.generator_ba):  # move every weight, so a wrong one shows
        for w in net.weights:
            w.assign(w.numpy() + 0.1 * rng.standard_normal(w.shape).astype("float32"))
    reports = {}
    for direction in ("AtoB", "BtoA"):
        reports[direction] = export.export_onnx(gan, tmp_path / f"{direction}.onnx",
                                                direction=direction)
        sm = export.export_saved_model(gan, tmp_path / f"{direction}_sm", direction=direction)
        assert reports[direction]["parity"]["onnxruntime"] <= 1e-4
        assert sm["parity"]["saved_model"] <= 1e-4
        meta = export.read_metadata(tmp_path / f"{direction}.onnx")
        assert meta["direction"] == direction and meta["family"] == "cyclegan"
        assert meta["inputs"][0]["shape"] == [None, None, 1]
        assert meta["inputs"][0]["size_multiple"] == 4 and meta["inputs"][0]["min_size"] == 8
        proto = onnx.load(tmp_path / f"{direction}.onnx")
        dims = [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim[:3]]
        assert dims == ["batch", "height", "width"]
        kit = OnnxGenerator(tmp_path / f"{direction}.onnx")
        loaded = tf.saved_model.load(str(tmp_path / f"{direction}_sm"))
        for shape in ((1, 8, 8, 1), (5, 8, 8, 1), (3, 12, 20, 1)):
            x = rng.uniform(-1, 1, shape).astype("float32")
            expected = gan.translate(x, direction=direction)
            np.testing.assert_allclose(kit.translate(x), expected, atol=1e-4)
            got = loaded.signatures["serving_default"](inputs=tf.constant(x))["images"].numpy()
            np.testing.assert_allclose(got, expected, atol=1e-4)
        with pytest.raises(ValueError, match="multiples of 4, at least 8,"):
            kit.translate(np.zeros((1, 4, 8, 1), "float32"))
    # the default export is G_AB; the two directions are different models
    assert export.export_onnx(gan, tmp_path / "default.onnx")["metadata"]["direction"] == "AtoB"
    x = rng.uniform(-1, 1, (2, 8, 8, 1)).astype("float32")
    assert not np.allclose(OnnxGenerator(tmp_path / "AtoB.onnx").translate(x),
                           OnnxGenerator(tmp_path / "BtoA.onnx").translate(x), atol=1e-3)
    out = export.export(gan, tmp_path / "both", formats=("onnx",), direction="BtoA")
    assert os.path.basename(out[0]["path"]) == "cyclegan_BtoA.onnx"
    with pytest.raises(export.ExportError, match="direction must be 'AtoB'"):
        export.export_onnx(gan, tmp_path / "x.onnx", direction="up")
    from kerasgan.models import Pix2Pix

    p2p = Pix2Pix(**Pix2Pix.tiny_config)
    with pytest.raises(export.ExportError, match="applies to two-way families"):
        export.export_onnx(p2p, tmp_path / "x.onnx", direction="BtoA")


# --------------------------------------------------------------- bad input
def test_bad_input_is_clear(images_8x8):
    gan = tiny(seed=0, n_downsampling=2)
    gan.compile()
    with pytest.raises(ValueError, match="multiples of 4.*resize or pad"):
        gan.translate(np.zeros((1, 10, 8, 1), "float32"))
    with pytest.raises(ValueError, match="multiples of 4, at least 8,"):
        gan.translate(np.zeros((1, 4, 4, 1), "float32"), direction="BtoA")
    with pytest.raises(ValueError, match="must have 1 channels.*got 3"):
        gan.translate(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="direction must be 'AtoB'"):
        gan.translate(np.zeros((1, 8, 8, 1), "float32"), direction="sideways")
    with pytest.raises(ValueError, match=r"learns from image pairs.*\(domain A, domain B\).*"
                                         r"open_unpaired"):
        gan.fit(tf.data.Dataset.from_tensor_slices(images_8x8).batch(8), verbose=0)
    rgb = np.repeat(images_8x8, 3, axis=-1)
    with pytest.raises(ValueError, match="domain B has 3 channels, the model takes 1"):
        gan.fit(tf.data.Dataset.from_tensor_slices((images_8x8, rgb)).batch(8), verbose=0)
    big = np.zeros((8, 16, 16, 1), "float32")
    with pytest.raises(ValueError, match="domain A is 16x16, the model was built for 8x8"):
        gan.fit(tf.data.Dataset.from_tensor_slices((big, big)).batch(8), verbose=0)
    with pytest.raises(ValueError, match="multiples of 4 and at least 8, got 12x6"):
        CycleGAN(image_shape=(12, 6, 3), width=4, n_blocks=1)
    with pytest.raises(ValueError, match="d_steps must be 1"):
        tiny(d_steps=2)


def test_cli_scores_an_unpaired_model_on_aligned_test_pairs(tmp_path):
    """Trained unpaired, scored on aligned pairs (facades: photo | label map): G_AB
    against the true B, with the untranslated input as the baseline."""
    from kerasgan.cli import main

    write_pairs(tmp_path / "data", "test", n=3, size=16)
    path = str(tmp_path / "cyclegan.keras")
    tiny(image_shape=(16, 16, 3)).save(path)
    report = tmp_path / "scores.json"
    assert main(["evaluate", path, "--metrics", "psnr,ssim", "--data", str(tmp_path / "data"),
                 "--split", "test", "--out", str(report)]) == 0
    scores = json.loads(report.read_text())
    assert scores["results"]["num_pairs"] == 3 and scores["data"].endswith("test:AtoB")
    assert np.isfinite(scores["results"]["psnr"]) and "input" in scores["baselines"]


@pytest.mark.slow
def test_cli_recipe_train_sample_export(tmp_path, capsys):
    from kerasgan.cli import main

    write_pairs(tmp_path / "data", "train", n=4, size=16)
    write_pairs(tmp_path / "data", "test", n=3, size=16)
    run = str(tmp_path / "run")
    assert main(["train", "cyclegan", "--data", str(tmp_path / "data"), "--resize", "8",
                 "--jitter", "--flip", "--epochs", "1", "--batch-size", "2", "--width", "4",
                 "--d-width", "4", "--n-blocks", "1", "--d-layers", "1", "--out", run,
                 "--quiet"]) == 0
    assert os.path.exists(os.path.join(run, "samples", "epoch_0001.png"))
    assert main(["sample", run, "--n", "3", "--out", str(tmp_path / "t.png")]) == 0
    # 3 rows of input / A->B / B->A(A->B) / target (the facades halves are aligned)
    assert Image.open(tmp_path / "t.png").size == (4 * 10 + 2, 3 * 10 + 2)
    assert main(["export", run, "--format", "onnx", "--direction", "BtoA",
                 "--out", str(tmp_path / "exp")]) == 0
    assert os.path.exists(tmp_path / "exp" / "cyclegan_BtoA.onnx")
    # two folders of different channel counts: a one-line error naming both
    write_folder(tmp_path / "photos", 2, size=8)
    write_folder(tmp_path / "maps", 2, size=8, mode="L")
    assert main(["train", "cyclegan", "--data", str(tmp_path / "photos"), "--data-b",
                 str(tmp_path / "maps"), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "different channel counts" in capsys.readouterr().err
