"""Metric mathematics: FID, KID, IS, precision/recall and streaming statistics."""

import numpy as np
import pytest
import scipy.linalg

from kerasgan.metrics import stats
from kerasgan.metrics.stats import MetricInputError


def correlated(n, d, seed, shift=0.0):
    """Features with a non-trivial covariance: a fixed random mixing of normals."""
    mix = np.random.default_rng(1234).standard_normal((d, d)) / np.sqrt(d)
    return np.random.default_rng(seed).standard_normal((n, d)) @ mix + shift


def reference_fid(a, b):
    """Independent FID: numpy mean/cov and scipy's general matrix square root."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(s1 @ s2, disp=False)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_streaming_equals_one_shot():
    x = correlated(1000, 32, seed=0, shift=3.0)
    streamed = stats.FeatureStats(keep_features=True)
    start = 0
    for size in (1, 7, 64, 300, 628):
        streamed.append(x[start : start + size].astype(np.float32))
        start += size
    assert streamed.num_items == 1000
    mean, cov = streamed.mean_cov()
    np.testing.assert_allclose(mean, x.astype(np.float32).astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(x.astype(np.float32).astype(np.float64), rowvar=False),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(streamed.features(), x.astype(np.float32))
    capped = stats.FeatureStats(max_items=150)
    for s in range(0, 1000, 64):
        capped.append(x[s : s + 64])
    assert capped.num_items == 150 and capped.is_full
    np.testing.assert_allclose(capped.mean_cov()[0], x[:150].mean(0), rtol=1e-10)


@pytest.mark.parametrize("d", [16, 256])
def test_fid_matches_scipy_reference(d):
    a = correlated(4000, d, seed=1)
    b = correlated(4000, d, seed=2, shift=0.1) * 1.1
    ours = stats.fid_from_features(a, b)
    ref = reference_fid(a, b)
    assert ours > 0.1
    assert abs(ours - ref) / ref <= 1e-3, (ours, ref)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_noise():
    a = correlated(3000, 64, seed=3)
    assert stats.fid_from_features(a, a) < 1e-6
    noise = np.random.default_rng(9).standard_normal(a.shape)
    values = [stats.fid_from_features(a, a + level * noise) for level in (0.05, 0.1, 0.2, 0.4, 0.8)]
    assert all(x < y for x, y in zip(values, values[1:])), values
    # two samples of one distribution: small next to the noisy ones
    assert stats.fid_from_features(a, correlated(3000, 64, seed=4)) < values[-1]


def naive_mmd2(x, y, d):
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    m = len(x)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    off = lambda mat: (mat.sum() - np.trace(mat)) / (m * (m - 1))  # noqa: E731
    return off(kxx) + off(kyy) - 2 * kxy.mean()


def test_kid_is_the_unbiased_mmd_and_near_zero_for_one_distribution():
    x, y = correlated(300, 20, seed=5), correlated(300, 20, seed=6, shift=0.5)
    mean, std = stats.kernel_inception_distance(x, y, num_subsets=1, max_subset_size=300)
    assert std == 0.0
    np.testing.assert_allclose(mean, naive_mmd2(y, x, 20), rtol=1e-10)
    same_mean, same_std = stats.kernel_inception_distance(
        correlated(2000, 20, seed=7), correlated(2000, 20, seed=8), num_subsets=50, max_subset_size=500)
    shifted_mean, _ = stats.kernel_inception_distance(
        correlated(2000, 20, seed=7), correlated(2000, 20, seed=8, shift=0.3), num_subsets=50,
        max_subset_size=500)
    assert abs(same_mean) < 3 * same_std + 1e-3
    assert shifted_mean > 10 * max(abs(same_mean), same_std)


def test_inception_score_extremes():
    assert stats.inception_score(np.zeros((100, 10)))[0] == pytest.approx(1.0)
    confident = np.full((1000, 10), -50.0)
    confident[np.arange(1000), np.arange(1000) % 10] = 50.0
    mean, std = stats.inception_score(confident)
    assert mean == pytest.approx(10.0, rel=1e-6) and std < 1e-6
    collapsed = np.full((1000, 10), -50.0)
    collapsed[:, 3] = 50.0
    assert stats.inception_score(collapsed)[0] == pytest.approx(1.0)


def test_precision_recall_separates_fidelity_from_coverage():
    real = correlated(1000, 8, seed=10)
    p, r = stats.precision_recall(real, real.copy())
    assert p == 1.0 and r == 1.0
    p, r = stats.precision_recall(real, correlated(1000, 8, seed=11, shift=100.0))
    assert p == 0.0 and r == 0.0
    # mode collapse: samples near a few real points are realistic but cover little
    rng = np.random.default_rng(12)
    collapsed = real[rng.choice(1000, 5)][rng.integers(0, 5, 1000)] + 0.01 * rng.standard_normal((1000, 8))
    p, r = stats.precision_recall(real, collapsed, block=256)
    assert p > 0.95 and r < 0.2, (p, r)


@pytest.mark.parametrize("call,message", [
    (lambda: stats.fid_from_features(np.ones((1, 4)), np.ones((10, 4))), "at least 2 real"),
    (lambda: stats.fid_from_features(np.zeros((10, 4)), np.zeros((10, 5))), "different dimensions"),
    (lambda: stats.fid_from_features(np.full((10, 4), np.nan), np.zeros((10, 4))), "NaN or Inf"),
    (lambda: stats.kernel_inception_distance(np.zeros((1, 4)), np.zeros((10, 4))), "at least 2"),
    (lambda: stats.kernel_inception_distance(np.zeros((5, 4)), np.zeros((5, 3))), "differ in size"),
    (lambda: stats.inception_score(np.zeros((9, 10))), "at least 10 samples"),
    (lambda: stats.precision_recall(np.zeros((3, 4)), np.zeros((10, 4))), "more than 3 real"),
    (lambda: stats.FeatureStats().append(np.zeros(4)), "2-D"),
])
def test_bad_inputs(call, message):
    with pytest.raises(MetricInputError, match=message):
        call()
