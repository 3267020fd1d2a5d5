"""Does adding class-conditional GAN samples to a small labelled training set help a classifier?

Measures the test accuracy of a classifier trained from scratch on a small, stratified
subset of the real training split, with and without labelled samples from a zoo generator
added, at an equal training budget:

- MNIST: subsets of 1% (600 images, 60 per class) and 10% (6,000, 600 per class) of the
  60,000 training images; generator ``cgan-mnist`` (its catalog: 97% of its samples are
  classified as the requested digit). Classifier ``build_mnist_classifier()``.
- CIFAR-10: subsets of 1% (500, 50 per class) and 10% (5,000, 500 per class) of the
  50,000 training images (the JPEG copy in ``../shared/data/cifar10``); generator
  ``sngan-cifar10`` (its catalog: only 33% of its samples are classified as the requested
  class, so its labels are noisy). Classifier ``build_cifar10_classifier()``.

Arms, for every (dataset, fraction, seed):

- ``real``: the real subset only.
- ``real+1x``: the real subset plus as many generated images as real ones.
- ``real+10x`` (MNIST only): plus ten times as many generated images as real ones.
- ``synthetic only`` (one size per dataset: 6,000 MNIST / 5,000 CIFAR-10 generated
  images, the 10% subset's size): no real image at all.

Generated images have balanced labels (each class equally often, the label is the
generator's conditioning class, never relabelled) and are drawn from the generator with a
seed derived from the run's seed. Real and generated images are pooled; training takes
200 optimizer steps of batch 128 (25,600 images seen) over epochs of the shuffled pool,
for every arm and fraction, so the arms get the same number of steps and images seen (a
larger pool means fewer passes over each real image). The real subset is drawn per
(fraction, seed), stratified by class (the same subset for every arm). Within a seed, all
arms start from the same initial weights (``keras.utils.set_random_seed``).

Recipe (all arms): float32; SGD with Nesterov momentum 0.9, peak learning rate 0.1 with
linear warm-up over the first 10% of steps then cosine decay to 0, decoupled weight decay
5e-4 (not on batch norm or biases), cross-entropy with label smoothing 0.1, batch-norm
momentum 0.9 (Keras' default 0.99 leaves the moving statistics of so short a run partly
at their initial values, and the test accuracy then collapses); no data augmentation;
no validation split and no early stopping: the model after the last step is evaluated
once, in float32, on the full test split (10,000 images each).

The label noise of the generated sets is measured with kerasgan's pretrained domain
classifiers (MNIST 99.48%, CIFAR-10 86.74% test accuracy): the share of generated images
classified as their conditioning label.

Every cell (one arm, fraction and seed) writes its own JSON file under ``--out``
(default ``runs/bench/synthetic_augmentation``) and is skipped when that file exists, so
an interrupted run resumes where it stopped. At the end the script prints markdown
tables (mean ± std over seeds, the per-seed values, and the paired difference to
``real``) and writes ``summary.json``; ``--figure PATH`` also draws them.

The full run (3 seeds, 36 cells) took 48 minutes on 2 shared CPU cores (MNIST 10,
CIFAR-10 38: about 1-3 minutes a cell, depending on the other load); ``--quick``
(seed 0, 1% subsets, 20 steps, every 10th test image) about a minute, as a smoke check
whose accuracies mean nothing.

Usage:
    python benchmarks/synthetic_augmentation.py [--quick] [--seeds 0 1 2]
        [--only mnist|cifar10] [--stage main|extra|all] [--data ../shared/data]
        [--out DIR] [--figure PNG] [--no-train]
"""

import argparse
import json
import os
import sys
import tarfile
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a source checkout without installing

import numpy as np  # noqa: E402

DATASETS = {
    "mnist": dict(preset="cgan-mnist", train_size=60_000, steps=200, multiples=(1, 10)),
    "cifar10": dict(preset="sngan-cifar10", train_size=50_000, steps=200, multiples=(1,)),
}
FRACTIONS = (0.01, 0.10)
BATCH_SIZE = 128
PEAK_LR = 0.1
WARMUP = 0.1  # share of the steps
WEIGHT_DECAY = 5e-4
LABEL_SMOOTHING = 0.1
NUM_CLASSES = 10
BN_MOMENTUM = 0.9


# --------------------------------------------------------------------------- data


def to_float(images_uint8):
    return images_uint8.astype(np.float32) / 127.5 - 1.0


def load_real(name, data_dir, cache_dir):
    """``{"train": (uint8 NHWC, int64), "test": (...)}``; CIFAR-10 decoded once, then cached as .npz."""
    from kerasgan.data import open_source

    if name == "mnist":
        out = {}
        for split in ("train", "test"):
            src = open_source(os.path.join(data_dir, "mnist"), split=split)
            out[split] = (np.asarray(src.images), np.asarray(src.labels, np.int64))
        return out
    cache = os.path.join(cache_dir, "cifar10_arrays.npz")
    if os.path.isfile(cache):
        z = np.load(cache)
        return {s: (z[f"{s}_x"], z[f"{s}_y"]) for s in ("train", "test")}
    from kerasgan.metrics.domain import CIFAR10_CLASS_NAMES

    out = {}
    with tempfile.TemporaryDirectory(prefix="kerasgan-synaug-") as tmp:
        with tarfile.open(os.path.join(data_dir, "cifar10", "cifar10-jpg.tar.gz")) as tar:
            tar.extractall(tmp, filter="data")
        for split in ("train", "test"):
            src = open_source(tmp, split=split)
            if sorted(src.class_names) != sorted(CIFAR10_CLASS_NAMES):
                raise SystemExit(f"unexpected CIFAR-10 class folders {src.class_names}")
            to_standard = np.asarray([CIFAR10_CLASS_NAMES.index(c) for c in src.class_names], np.int64)
            out[split] = (np.asarray(src.images), to_standard[np.asarray(src.labels)])
    os.makedirs(cache_dir, exist_ok=True)
    tmp_path = cache + ".tmp.npz"
    np.savez(tmp_path, **{f"{s}_{k}": v for s in out for k, v in zip("xy", out[s])})
    os.replace(tmp_path, cache)
    return out


def stratified_subset(labels, per_class, seed, fraction):
    """Indices of ``per_class`` images of every class, drawn without replacement."""
    rng = np.random.default_rng([seed, int(round(fraction * 1000))])
    idx = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(NUM_CLASSES)]
    return np.sort(np.concatenate(idx))


def balanced_labels(n):
    """``0, 1, ..., 9, 0, 1, ...``: every prefix whose length is a multiple of 10 is balanced."""
    return np.tile(np.arange(NUM_CLASSES), n // NUM_CLASSES + 1)[:n].astype(np.int64)


class Synthetic:
    """Generated labelled images per seed, made once at the largest size needed and sliced."""

    def __init__(self, preset):
        import kerasgan

        self.preset = preset
        self.gan = kerasgan.zoo.from_preset(preset)
        self.cache = {}

    def get(self, n, seed):
        have = self.cache.get(seed)
        if have is None or len(have[0]) < n:
            labels = balanced_labels(n)
            images = np.asarray(self.gan.generate(n, seed=[10_000 + seed], labels=labels), np.float32)
            self.cache = {seed: (images, labels)}  # one seed at a time: bounds memory
            have = self.cache[seed]
        return have[0][:n], have[1][:n]


# --------------------------------------------------------------------------- training


def evaluate(model, images_uint8, labels, batch_size=500):
    correct = 0
    for i in range(0, len(images_uint8), batch_size):
        logits = model(to_float(images_uint8[i : i + batch_size]), training=False)["logits"]
        correct += int(np.sum(np.argmax(np.asarray(logits), 1) == labels[i : i + batch_size]))
    return correct / len(images_uint8)


def train_and_test(name, x, y, test, steps, seed):
    """Trains a fresh classifier on float images ``x`` (in [-1, 1]) for ``steps`` steps; test accuracy."""
    import keras

    from kerasgan.metrics.domain import NETWORKS

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)  # same initial weights for every arm of a seed
    model = NETWORKS[name].builder(dtype="float32")
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            # Keras' default 0.99 leaves the moving statistics 13% at their initial values
            # after 200 steps, which wrecks the test accuracy of such short runs.
            layer.momentum = BN_MOMENTUM
    train_model = keras.Model(model.input, model.output["logits"])
    warmup = max(1, int(WARMUP * steps))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=PEAK_LR / 10, decay_steps=steps - warmup, alpha=0.0,
        warmup_target=PEAK_LR, warmup_steps=warmup,
    )
    optimizer = keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True, weight_decay=WEIGHT_DECAY)
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    train_model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=LABEL_SMOOTHING),
    )
    # Batches: consecutive epochs of shuffled pool (order drawn from the seed, per arm).
    rng = np.random.default_rng([seed, len(x), 7])
    epochs = -(-steps * BATCH_SIZE // len(x))
    order = np.concatenate([rng.permutation(len(x)) for _ in range(epochs)])[: steps * BATCH_SIZE]
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[y]
    losses = []
    start = time.perf_counter()
    for step in range(steps):
        idx = order[step * BATCH_SIZE : (step + 1) * BATCH_SIZE]
        losses.append(float(train_model.train_on_batch(x[idx], onehot[idx])))
    train_s = time.perf_counter() - start
    accuracy = evaluate(model, *test)
    return {
        "test_accuracy": accuracy,
        "test_images": int(len(test[1])),
        "final_loss_mean_last_10pct": float(np.mean(losses[-max(1, steps // 10):])),
        "passes_over_pool": steps * BATCH_SIZE / len(x),
        "train_s": train_s,
    }


def label_agreement(name, images, labels):
    """Share of generated images that kerasgan's pretrained domain classifier assigns to
    their conditioning label, overall and per class."""
    from kerasgan.metrics.domain import load_domain_network

    model = load_domain_network(name)
    pred = np.concatenate([
        np.argmax(np.asarray(model(images[i : i + 500], training=False)["logits"]), 1)
        for i in range(0, len(images), 500)
    ])
    per_class = [float(np.mean(pred[labels == c] == c)) for c in range(NUM_CLASSES)]
    return {"overall": float(np.mean(pred == labels)), "per_class": per_class, "n": int(len(labels))}


# --------------------------------------------------------------------------- cells


def plan(names, seeds, quick, stage="all"):
    """The cells in running order: per dataset the main comparison (``real`` and
    ``real+1x``) first, then the extras (``real+10x``, ``synthetic only``); ``stage``
    ("main", "extra", "all") keeps one part."""
    cells = []
    for name in names:
        cfg = DATASETS[name]
        n10 = int(cfg["train_size"] * 0.10)
        main, extra = [], []
        for seed in seeds:
            for fraction in FRACTIONS:
                n_real = int(cfg["train_size"] * fraction)
                main.append(dict(dataset=name, fraction=fraction, arm="real", n_real=n_real, n_synth=0, seed=seed))
                for k, m in enumerate(cfg["multiples"]):
                    cell = dict(dataset=name, fraction=fraction, arm=f"real+{m}x", n_real=n_real,
                                n_synth=m * n_real, seed=seed)
                    (main if k == 0 else extra).append(cell)
            extra.append(dict(dataset=name, fraction=0.0, arm="synthetic only", n_real=0, n_synth=n10, seed=seed))
        cells += (main if stage != "extra" else []) + (extra if stage != "main" else [])
    if quick:
        cells = [c for c in cells if c["fraction"] == 0.01 and c["arm"] in ("real", "real+1x")]
    for c in cells:
        c["key"] = f"{c['dataset']}_f{int(round(c['fraction'] * 100)):02d}_{c['arm'].replace(' ', '-')}_s{c['seed']}"
    # all MNIST cells, then all CIFAR-10 cells; within a dataset, main then extra
    return cells


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def fmt_pct(values):
    return f"{100 * np.mean(values):.2f} ± {100 * np.std(values, ddof=1) if len(values) > 1 else 0:.2f}"


def summarize(results, agreements, cfgs):
    """Markdown tables and the summary rows from the per-cell results."""
    rows = []
    groups = {}
    for r in results:
        groups.setdefault((r["dataset"], r["fraction"], r["arm"]), []).append(r)
    order = {"real": 0, "real+1x": 1, "real+10x": 2, "synthetic only": 3}
    for (name, fraction, arm), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "mnist", kv[0][1] == 0,
                                                                            kv[0][1], order[kv[0][2]])):
        rs = sorted(rs, key=lambda r: r["seed"])
        acc = {r["seed"]: r["test_accuracy"] for r in rs}
        base = {r["seed"]: r["test_accuracy"] for r in results
                if (r["dataset"], r["fraction"], r["arm"]) == (name, fraction, "real")}
        paired = [acc[s] - base[s] for s in acc if s in base] if arm != "real" and fraction > 0 else []
        rows.append(dict(
            dataset=name, fraction=fraction, arm=arm, n_real=rs[0]["n_real"], n_synth=rs[0]["n_synth"],
            steps=rs[0]["steps"], seeds=list(acc), accuracies=list(acc.values()),
            mean=float(np.mean(list(acc.values()))),
            std=float(np.std(list(acc.values()), ddof=1)) if len(acc) > 1 else 0.0,
            delta_vs_real=[float(d) for d in paired],
        ))
    lines = []
    for name in [n for n in DATASETS if any(r["dataset"] == n for r in rows)]:
        cfg = cfgs[name]
        agr = agreements.get(name)
        lines.append(f"\n### {name}: generator `{cfg['preset']}`, {cfg['steps']} steps of batch {BATCH_SIZE}\n")
        if agr:
            lines.append(f"Generated labels agree with the pretrained {name} classifier on "
                         f"{100 * agr['overall']:.1f}% of {agr['n']:,} samples (per class: "
                         + ", ".join(f"{100 * a:.0f}" for a in agr["per_class"]) + ").\n")
        lines.append("| real subset | arm | real | generated | test accuracy % (mean ± std) | per seed "
                     "| Δ vs real (pp, per seed) |")
        lines.append("|---|---|---:|---:|---:|---|---|")
        for r in (r for r in rows if r["dataset"] == name):
            frac = f"{r['fraction']:.0%}" if r["fraction"] else "none"
            seeds = ", ".join(f"{100 * a:.2f}" for a in r["accuracies"])
            delta = ""
            if r["delta_vs_real"]:
                d = np.asarray(r["delta_vs_real"]) * 100
                delta = f"{d.mean():+.2f} ({', '.join(f'{v:+.2f}' for v in d)})"
            lines.append(f"| {frac} | {r['arm']} | {r['n_real']:,} | {r['n_synth']:,} | "
                         f"{fmt_pct(r['accuracies'])} | {seeds} | {delta} |")
    return rows, "\n".join(lines)


def draw(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in DATASETS if any(r["dataset"] == n for r in rows)]
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 3.6), squeeze=False)
    colors = {"real": "#4c72b0", "real+1x": "#dd8452", "real+10x": "#c44e52", "synthetic only": "#8c8c8c"}
    for ax, name in zip(axes[0], names):
        rs = [r for r in rows if r["dataset"] == name]
        labels, pos = [], 0
        for group in [f for f in FRACTIONS] + [0.0]:
            g = [r for r in rs if r["fraction"] == group]
            if not g:
                continue
            for r in g:
                ax.errorbar(pos, 100 * r["mean"], yerr=100 * r["std"], fmt="s", ms=8, color=colors[r["arm"]],
                            capsize=5, elinewidth=2)
                ax.scatter([pos + 0.25] * len(r["accuracies"]), 100 * np.asarray(r["accuracies"]), s=10, c="k",
                           zorder=3)
                labels.append((pos, f"{group:.0%}\n{r['arm']}" if group else "synthetic\nonly"))
                pos += 1
            pos += 0.6
        ax.set_xticks([p for p, _ in labels], [t for _, t in labels], fontsize=7)
        lo = min(100 * min(r["accuracies"]) for r in rs)
        ax.set_ylim(max(0, lo - 5), 100 if name == "mnist" else min(100, 100 * max(r["mean"] for r in rs) + 8))
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{name} ({rs[0]['steps']} steps, batch {BATCH_SIZE}; squares: mean ± std, dots: seeds)",
                     fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: seed 0, 1%% subsets, real vs real+1x, 20 steps, every 10th test image")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", choices=sorted(DATASETS))
    parser.add_argument("--data", default=os.path.join(os.path.dirname(REPO), "shared", "data"))
    parser.add_argument("--out", default=os.path.join(REPO, "runs", "bench", "synthetic_augmentation"))
    parser.add_argument("--figure", default=None, help="also draw the results to this PNG")
    parser.add_argument("--stage", choices=("main", "extra", "all"), default="all",
                        help="run only the main cells (real, real+1x) or only the extras; the "
                        "summary always covers every cell written")
    parser.add_argument("--no-train", action="store_true", help="only summarize the cells already written")
    args = parser.parse_args(argv)

    import kerasgan  # noqa: F401  (before TensorFlow)

    wall = time.perf_counter()
    names = [args.only] if args.only else list(DATASETS)
    seeds = [0] if args.quick else args.seeds
    out = os.path.join(args.out, "quick") if args.quick else args.out
    cells_dir = os.path.join(out, "cells")
    os.makedirs(cells_dir, exist_ok=True)
    cfgs = {n: dict(DATASETS[n], steps=20 if args.quick else DATASETS[n]["steps"]) for n in names}
    cells = plan(names, seeds, args.quick)
    todo = [c for c in plan(names, seeds, args.quick, args.stage)
            if not os.path.isfile(os.path.join(cells_dir, c["key"] + ".json"))]
    if args.no_train:
        todo = []
    print(f"{len(cells)} cells planned, {sum(os.path.isfile(os.path.join(cells_dir, c['key'] + '.json')) for c in cells)} "
          f"done, {len(todo)} to run now -> {cells_dir}", flush=True)

    agreements = {}
    for name in names:
        cfg = cfgs[name]
        name_todo = [c for c in todo if c["dataset"] == name]
        agr_path = os.path.join(out, f"label_agreement_{name}.json")
        if (not name_todo and os.path.isfile(agr_path)) or args.no_train:
            if os.path.isfile(agr_path):
                with open(agr_path) as f:
                    agreements[name] = json.load(f)
            continue
        t = time.perf_counter()
        real = load_real(name, args.data, os.path.join(args.out, "cache"))
        test = real["test"]
        if args.quick:
            test = (test[0][::10], test[1][::10])  # every 10th: the splits are stored class by class
        synthetic = Synthetic(cfg["preset"])
        print(f"[{name}] data and generator loaded in {time.perf_counter() - t:.0f} s "
              f"({len(real['train'][1])} train / {len(test[1])} test)", flush=True)
        if not os.path.isfile(agr_path):
            n = 1000 if args.quick else int(cfg["train_size"] * 0.10)
            images, labels = synthetic.get(n, seeds[0])
            agreements[name] = dict(label_agreement(name, images, labels), seed=seeds[0], preset=cfg["preset"])
            write_json(agr_path, agreements[name])
            print(f"[{name}] generated labels agree with the pretrained classifier on "
                  f"{100 * agreements[name]['overall']:.1f}% of {n} samples", flush=True)
        else:
            with open(agr_path) as f:
                agreements[name] = json.load(f)
        for i, cell in enumerate(name_todo):
            t = time.perf_counter()
            xs, ys = [], []
            if cell["n_real"]:
                idx = stratified_subset(real["train"][1], cell["n_real"] // NUM_CLASSES, cell["seed"], cell["fraction"])
                xs.append(to_float(real["train"][0][idx]))
                ys.append(real["train"][1][idx])
            if cell["n_synth"]:
                gx, gy = synthetic.get(cell["n_synth"], cell["seed"])
                xs.append(gx)
                ys.append(gy)
            x, y = np.concatenate(xs), np.concatenate(ys)
            result = train_and_test(name, x, y, test, cfg["steps"], cell["seed"])
            result.update({k: v for k, v in cell.items()}, steps=cfg["steps"], batch_size=BATCH_SIZE,
                          preset=cfg["preset"], wall_s=time.perf_counter() - t, quick=args.quick)
            write_json(os.path.join(cells_dir, cell["key"] + ".json"), result)
            print(f"[{name} {i + 1}/{len(name_todo)}] {cell['key']}: test acc {100 * result['test_accuracy']:.2f}% "
                  f"(pool {len(y):,}, {result['passes_over_pool']:.1f} passes, "
                  f"loss {result['final_loss_mean_last_10pct']:.3f}) "
                  f"{result['wall_s']:.0f} s; elapsed {time.perf_counter() - wall:.0f} s", flush=True)

    results = []
    for c in cells:
        path = os.path.join(cells_dir, c["key"] + ".json")
        if os.path.isfile(path):
            with open(path) as f:
                results.append(json.load(f))
    rows, table = summarize(results, agreements, cfgs)
    summary = dict(
        description=__doc__.split("\n\n")[0], quick=args.quick, batch_size=BATCH_SIZE, peak_lr=PEAK_LR,
        warmup_share=WARMUP, weight_decay=WEIGHT_DECAY, label_smoothing=LABEL_SMOOTHING,
        datasets=cfgs, label_agreement=agreements, rows=rows, cells=results,
        wall_s_this_invocation=time.perf_counter() - wall,
    )
    write_json(os.path.join(out, "summary.json"), summary)
    print(table)
    print(f"\nwrote {os.path.join(out, 'summary.json')}; wall time {time.perf_counter() - wall:.0f} s")
    if args.figure:
        draw(rows, args.figure)


if __name__ == "__main__":
    main()
