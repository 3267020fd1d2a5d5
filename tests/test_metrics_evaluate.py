"""The evaluation pipeline: named metrics, streaming, reference cache, MetricMonitor,
bad input. A small random conv net stands in for the feature network here (the
real networks have their own tests)."""

import csv
import glob

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasgan
from kerasgan import metrics
from kerasgan.metrics import Metric, MetricInputError


def toy_network():
    keras.utils.set_random_seed(3)
    x = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(8, 3, activation="tanh")(x)
    h = keras.layers.Flatten()(h)
    features = keras.layers.Dense(12, activation="tanh", name="features")(h)
    logits = keras.layers.Dense(4, name="logits")(features)
    model = keras.Model(x, {"features": features, "logits": logits})
    return metrics.FeatureNetwork("toy", model, (8, 8, 1), resize=False, description="toy net")


metrics.register_network("toy", toy_network)
for spec in (Metric("fid_toy", "fid", "toy", 200, 300), Metric("fid_toy_small", "fid", "toy", 10, 300),
             Metric("kid_toy", "kid", "toy", 200, 300, {"num_subsets": 20, "max_subset_size": 100}),
             Metric("pr_toy", "pr", "toy", 200, 300, {"k": 3}),
             Metric("is_toy", "is", "toy", 200, 0, {"splits": 10}),
             Metric("acc_toy", "acc", "toy", 40, 0)):
    metrics.register_metric(spec)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASGAN_CACHE", str(tmp_path / "cache"))


def real_images(n=300, seed=0):
    """Smooth 8x8 blobs: a structured distribution, uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:8, 0:8]
    centres = rng.uniform(1, 7, (n, 2))
    blobs = np.exp(-((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) / 4.0)
    return (blobs[..., None] * 255).astype(np.uint8)


class FixedPool:
    """A sampler returning the next images of a fixed pool (float in [-1, 1])."""

    def __init__(self, images):
        self.images = images.astype(np.float32) / 127.5 - 1 if images.dtype == np.uint8 else images
        self.pos = 0

    def __call__(self, n, seed, labels=None):
        out = self.images[self.pos : self.pos + n]
        self.pos += n
        return out


def test_streaming_evaluation_equals_one_shot():
    real, fake = real_images(300, seed=0), real_images(200, seed=1)
    streamed = metrics.evaluate(FixedPool(fake), ["fid_toy", "kid_toy"], data=real, batch_size=7)
    net = metrics.get_network("toy")
    one_shot = metrics.fid_from_features(net(real)["features"], net(fake)["features"])
    assert streamed["fid_toy"]["value"] == pytest.approx(one_shot, rel=1e-9, abs=1e-12)
    kid, _ = metrics.kernel_inception_distance(net(real)["features"], net(fake)["features"],
                                               num_subsets=20, max_subset_size=100, seed=0)
    assert streamed["kid_toy"]["value"] == pytest.approx(kid, rel=1e-9)
    r = streamed["fid_toy"]
    assert r["network"] == "toy net" and r["num_gen"] == 200 and r["num_real"] == 300
    assert r["data"] == "array" and r["preprocess"] == metrics.PREPROCESS_VERSION


def test_fid_of_real_against_itself_is_zero_and_grows_with_noise():
    real = real_images(300)
    assert metrics.evaluate(FixedPool(real), ["fid_toy"], data=real, num_gen=300)["fid_toy"]["value"] < 1e-6
    rng = np.random.default_rng(5)
    noise = rng.standard_normal(real.shape).astype(np.float32)
    values = []
    for level in (0.05, 0.1, 0.2, 0.4):
        noisy = np.clip(real.astype(np.float32) / 127.5 - 1 + level * noise, -1, 1)
        values.append(metrics.evaluate(FixedPool(noisy), ["fid_toy"], data=real)["fid_toy"]["value"])
    assert all(a < b for a, b in zip(values, values[1:])), values


def test_reference_statistics_are_cached_by_content(tmp_path):
    real = real_images(300)
    first = metrics.evaluate(FixedPool(real_images(200, 1)), ["fid_toy"], data=real)["fid_toy"]
    second = metrics.evaluate(FixedPool(real_images(200, 1)), ["fid_toy"], data=real)["fid_toy"]
    assert not first["reference_cached"] and second["reference_cached"]
    assert first["value"] == second["value"]
    files = glob.glob(str(tmp_path / "cache" / "metrics" / "*.npz"))
    assert len(files) == 1 and "-toy-300-" in files[0]
    changed = real.copy()
    changed[0, 0, 0, 0] ^= 1  # one pixel: another content hash
    third = metrics.evaluate(FixedPool(real_images(200, 1)), ["fid_toy"], data=changed)["fid_toy"]
    assert not third["reference_cached"]
    # a damaged cache file is recomputed, not trusted
    with open(files[0], "wb") as f:
        f.write(b"garbage")
    again = metrics.evaluate(FixedPool(real_images(200, 1)), ["fid_toy"], data=real)["fid_toy"]
    assert not again["reference_cached"] and again["value"] == first["value"]


def test_gan_generation_is_seeded_and_streams_in_batches():
    gan = kerasgan.models.DCGAN(image_shape=(8, 8, 1), latent_dim=8, width=4, seed=0)
    real = real_images(300)
    a = metrics.evaluate(gan, "fid_toy,is_toy,pr_toy", data=real, seed=1)
    b = metrics.evaluate(gan, "fid_toy,is_toy,pr_toy", data=real, seed=1)
    c = metrics.evaluate(gan, "fid_toy", data=real, seed=2)
    assert a["fid_toy"]["value"] == b["fid_toy"]["value"] != c["fid_toy"]["value"]
    assert 1.0 <= a["is_toy"]["value"] <= 4.0 and "std" in a["is_toy"]
    assert 0.0 <= a["pr_toy"]["precision"] <= 1.0 and 0.0 <= a["pr_toy"]["recall"] <= 1.0


@pytest.mark.parametrize("case", ["nan", "range", "shape", "few", "few_real", "acc_unconditional", "no_data",
                                  "unknown", "real_nan"])
def test_bad_input(case):
    real = real_images(300)
    good = FixedPool(real_images(200, 1))
    if case == "nan":
        pool = real_images(200, 1).astype(np.float32) / 127.5 - 1
        pool[17, 2, 2, 0] = np.nan
        call, message = lambda: metrics.evaluate(FixedPool(pool), ["fid_toy"], data=real), "NaN or Inf"
    elif case == "range":
        pool = real_images(200, 1).astype(np.float32)  # 0..255 floats, not [-1, 1]
        call, message = lambda: metrics.evaluate(FixedPool(pool), ["fid_toy"], data=real), "outside \\[-1, 1\\]"
    elif case == "shape":
        call, message = (lambda: metrics.evaluate(good, ["fid_toy"], data=np.zeros((300, 9, 9, 1), np.uint8)),
                         "takes 8x8x1 images|different")
    elif case == "few":
        call, message = lambda: metrics.evaluate(good, ["fid_toy_small"], data=real), "needs more than 12 generated"
    elif case == "few_real":
        call, message = lambda: metrics.evaluate(good, ["fid_toy"], data=real[:12]), "needs more than 12 real"
    elif case == "acc_unconditional":
        gan = kerasgan.models.DCGAN(image_shape=(8, 8, 1), latent_dim=8, width=4)
        call, message = lambda: metrics.evaluate(gan, ["acc_toy"]), "unconditional"
    elif case == "no_data":
        call, message = lambda: metrics.evaluate(good, ["fid_toy"]), "give the data"
    elif case == "unknown":
        call, message = lambda: metrics.evaluate(good, ["fid7"], data=real), "unknown metric 'fid7'"
    elif case == "real_nan":
        call, message = (lambda: metrics.evaluate(good, ["fid_toy"], data=np.full((10, 8, 8, 1), np.nan)),
                         "real images contain NaN")
    with pytest.raises((MetricInputError, ValueError), match=message):
        call()


def test_metric_monitor_logs_to_history_csv_and_tensorboard(tmp_path):
    gan = kerasgan.models.DCGAN(image_shape=(8, 8, 1), latent_dim=8, width=4, seed=0)
    gan.compile()
    real = real_images(300)
    ds = tf.data.Dataset.from_tensor_slices(real.astype("float32") / 127.5 - 1).batch(100)
    monitor = kerasgan.callbacks.MetricMonitor("fid_toy", data=real, every_n_epochs=2)
    csv_path, tb_dir = tmp_path / "h.csv", tmp_path / "tb"
    history = gan.fit(ds, epochs=3, verbose=0, callbacks=[
        monitor, keras.callbacks.CSVLogger(str(csv_path)), keras.callbacks.TensorBoard(str(tb_dir))])
    values = history.history["fid_toy"]
    assert np.isnan(values[0]) and np.isfinite(values[1]) and np.isfinite(values[2])  # 2 and last
    assert [r["epoch"] for r in monitor.results] == [2, 3]
    assert values[1] == monitor.results[0]["value"] > 0
    rows = list(csv.DictReader(open(csv_path)))
    assert float(rows[1]["fid_toy"]) == pytest.approx(values[1])
    tags = set()
    for event_file in glob.glob(str(tb_dir / "train" / "events*")):
        for record in tf.data.TFRecordDataset(event_file):
            event = tf.compat.v1.Event.FromString(record.numpy())
            tags.update(v.tag for v in event.summary.value)
    assert "epoch_fid_toy" in tags
    with pytest.raises(ValueError, match="unknown metric"):
        kerasgan.callbacks.MetricMonitor("fid3k")
