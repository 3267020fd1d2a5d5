"""The metric mathematics on features: streaming statistics, FID, KID, IS, precision/recall.

Everything here is numpy, float64 where it accumulates, and independent of the
network that produced the features. Definitions follow the papers and the ADA reference code's (Karras et al. 2020)
``metrics/`` code:

- **FID** (Heusel et al. 2017): ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``.
- **KID** (Bińkowski et al. 2018): unbiased MMD^2 with the polynomial kernel
  ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets.
- **IS** (Salimans et al. 2016): ``exp(E_x KL(p(y|x) || p(y)))`` over 10 splits.
- **Precision / recall** (Kynkäänniemi et al. 2019): k-NN (k = 3) manifolds.
"""

import numpy as np


class MetricInputError(ValueError):
    """Inputs a metric cannot use (too few samples, NaN, mismatched sets); the
    message says what is wrong and what to do."""


def _as_features(features, name="features"):
    x = np.asarray(features)
    if x.ndim != 2:
        raise MetricInputError(f"{name} must be a 2-D (samples, dims) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = int(np.argwhere(~np.isfinite(x))[0][0])
        raise MetricInputError(f"{name} contain NaN or Inf (first at sample {bad})")
    return x


class FeatureStats:
    """Streams features into float64 running sums, so memory stays flat.

    Args:
        keep_features: also keep the raw features (float32) up to
            ``max_items`` (KID and precision/recall need them).
        max_items: stop accepting features after this many (None: no limit).

    Example:
        >>> stats = FeatureStats()
        >>> for batch in batches:
        ...     stats.append(network(batch))
        >>> mu, sigma = stats.mean_cov()
    """

    def __init__(self, keep_features=False, max_items=None):
        self.keep_features = bool(keep_features)
        self.max_items = None if max_items is None else int(max_items)
        self.num_items = 0
        self.num_features = None
        self._sum = None
        self._sum_outer = None
        self._kept = []

    @property
    def is_full(self):
        return self.max_items is not None and self.num_items >= self.max_items

    def append(self, features):
        x = _as_features(features)
        if self.num_features is None:
            self.num_features = x.shape[1]
            self._sum = np.zeros(self.num_features, np.float64)
            self._sum_outer = np.zeros((self.num_features, self.num_features), np.float64)
        elif x.shape[1] != self.num_features:
            raise MetricInputError(
                f"got {x.shape[1]}-dimensional features after {self.num_features}-dimensional ones"
            )
        if self.max_items is not None:
            x = x[: max(0, self.max_items - self.num_items)]
        if not len(x):
            return
        x64 = x.astype(np.float64)
        self._sum += x64.sum(axis=0)
        self._sum_outer += x64.T @ x64
        self.num_items += len(x)
        if self.keep_features:
            self._kept.append(x.astype(np.float32))

    def mean_cov(self):
        """Mean and (unbiased) covariance, float64."""
        if self.num_items < 2:
            raise MetricInputError(f"need at least 2 samples for a covariance, got {self.num_items}")
        mean = self._sum / self.num_items
        cov = (self._sum_outer - self.num_items * np.outer(mean, mean)) / (self.num_items - 1)
        return mean, cov

    def features(self):
        """The kept raw features, float32 ``(num_items, dims)``."""
        if not self.keep_features:
            raise ValueError("this FeatureStats was made with keep_features=False")
        if not self._kept:
            return np.zeros((0, self.num_features or 0), np.float32)
        return np.concatenate(self._kept, axis=0)


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Fréchet distance between two Gaussians, float64.

    ``tr((S1 S2)^(1/2))`` is computed as the sum of the square roots of the
    eigenvalues of the symmetric PSD matrix ``S1^(1/2) S2 S1^(1/2)`` (similar to
    ``S1 S2``), so it is real and stable without a general matrix square root.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise MetricInputError(
            f"the two feature sets have different dimensions: {mu1.shape} vs {mu2.shape}"
        )
    for name, value in (("mu1", mu1), ("mu2", mu2), ("sigma1", sigma1), ("sigma2", sigma2)):
        if not np.all(np.isfinite(value)):
            raise MetricInputError(f"{name} contains NaN or Inf")
    evals, evecs = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    sqrt1 = (evecs * np.sqrt(np.clip(evals, 0, None))) @ evecs.T
    middle = sqrt1 @ sigma2 @ sqrt1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt
    return float(max(value, 0.0))


def fid_from_features(real, fake):
    """FID between two feature arrays (samples, dims)."""
    real, fake = _as_features(real, "real features"), _as_features(fake, "generated features")
    for name, x in (("real", real), ("generated", fake)):
        if len(x) < 2:
            raise MetricInputError(f"FID needs at least 2 {name} samples, got {len(x)}")
    a, b = FeatureStats(), FeatureStats()
    a.append(real)
    b.append(fake)
    return frechet_distance(*a.mean_cov(), *b.mean_cov())


def kernel_inception_distance(real, fake, num_subsets=100, max_subset_size=1000, seed=0):
    """KID: unbiased MMD^2, polynomial kernel ``(x.y / d + 1)^3``, mean over subsets.

    As the ADA reference code's (Karras et al. 2020) ``compute_kid``: each subset draws ``m = min(n_real,
    n_fake, max_subset_size)`` samples without replacement from each set.

    Returns:
        ``(mean, std)`` over the subsets.
    """
    real, fake = _as_features(real, "real features"), _as_features(fake, "generated features")
    if real.shape[1] != fake.shape[1]:
        raise MetricInputError(
            f"real and generated features differ in size: {real.shape[1]} vs {fake.shape[1]}"
        )
    m = min(len(real), len(fake), int(max_subset_size))
    if m < 2:
        raise MetricInputError(f"KID needs at least 2 samples in each set, got {len(real)} and {len(fake)}")
    d = real.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(int(num_subsets)):
        x = fake[rng.choice(len(fake), m, replace=False)].astype(np.float64)
        y = real[rng.choice(len(real), m, replace=False)].astype(np.float64)
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        values.append(((a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m) / m)
    return float(np.mean(values)), float(np.std(values))


def inception_score(logits, splits=10):
    """Inception Score from classifier logits ``(samples, classes)``.

    Returns:
        ``(mean, std)`` over ``splits`` equal splits (the paper's protocol).
    """
    logits = _as_features(logits, "logits").astype(np.float64)
    n = len(logits)
    if n < splits:
        raise MetricInputError(f"Inception Score needs at least {splits} samples ({splits} splits), got {n}")
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    scores = []
    for i in range(splits):
        part = probs[i * n // splits : (i + 1) * n // splits]
        marginal = part.mean(axis=0, keepdims=True)
        kl = part * (np.log(np.clip(part, 1e-30, None)) - np.log(np.clip(marginal, 1e-30, None)))
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _pairwise_sq_dists(a, b):
    return np.maximum(
        (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :], 0.0
    )


def _knn_radii(x, k, block):
    radii = np.empty(len(x))
    for s in range(0, len(x), block):
        d = _pairwise_sq_dists(x[s : s + block], x)
        # the k-th nearest other sample: index k in sorted order (0 is the sample itself)
        radii[s : s + block] = np.partition(d, k, axis=1)[:, k]
    return radii


def _coverage(manifold, radii, queries, block):
    inside = np.zeros(len(queries), bool)
    for s in range(0, len(queries), block):
        d = _pairwise_sq_dists(queries[s : s + block], manifold)
        inside[s : s + block] = (d <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(real, fake, k=3, block=2048):
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    The real (generated) manifold is the union of balls around each real
    (generated) sample reaching its k-th nearest neighbour. Precision: the
    fraction of generated samples inside the real manifold; recall: the
    fraction of real samples inside the generated one. Distances are Euclidean
    on the features as given, computed in blocks so memory stays bounded.

    Returns:
        ``(precision, recall)``.
    """
    real = _as_features(real, "real features").astype(np.float64)
    fake = _as_features(fake, "generated features").astype(np.float64)
    if real.shape[1] != fake.shape[1]:
        raise MetricInputError(
            f"real and generated features differ in size: {real.shape[1]} vs {fake.shape[1]}"
        )
    for name, x in (("real", real), ("generated", fake)):
        if len(x) <= k:
            raise MetricInputError(f"precision/recall with k={k} needs more than {k} {name} samples, got {len(x)}")
    real_radii, fake_radii = _knn_radii(real, k, block), _knn_radii(fake, k, block)
    return _coverage(real, real_radii, fake, block), _coverage(fake, fake_radii, real, block)
