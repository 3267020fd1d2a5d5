"""Class fidelity of trained conditional runs, per class, and the docs' sample figures.

For each run given, generates ``--per-class`` images of every class (labels given,
seeds fixed) and classifies them with kerasgan's domain classifier (MNIST: 99.48%
test accuracy; CIFAR-10: 86.74%). Prints one table: the share of samples classified
as the requested class, overall and per class. With ``--figures``, writes the docs'
pictures: one row per class for every run, and for an InfoGAN run the sweep of each
continuous code.

Usage (from the repository root, after training the runs of docs/results.md):
    python benchmarks/conditional_quality.py runs/cgan-mnist runs/acgan-mnist \
        [--per-class 100] [--figures docs/images]
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def class_accuracy(gan, network, per_class, seed=0):
    """``(overall, per-class list)`` share of samples the classifier assigns to
    the requested class, ``per_class`` samples of each class."""
    accuracies = []
    for c in range(gan.num_classes):
        images = gan.generate(per_class, seed=[seed, c], labels=c)
        logits = network(images)["logits"]
        accuracies.append(float((logits.argmax(1) == c).mean()))
    return float(np.mean(accuracies)), accuracies


def code_purity(gan, network, per_class, seed=0):
    """For each value of InfoGAN's categorical code: the digit the classifier
    most often sees and the share of samples that are that digit. Returns
    ``(mean purity, [(digit, share), ...])``."""
    rows = []
    for c in range(gan.num_categories):
        images = gan.generate(per_class, seed=[seed, c], codes={"c_cat": c})
        predicted = network(images)["logits"].argmax(1)
        counts = np.bincount(predicted, minlength=10)
        rows.append((int(counts.argmax()), float(counts.max() / per_class)))
    return float(np.mean([share for _, share in rows])), rows


def infogan_sweep(gan, path, values=np.linspace(-2, 2, 9), rows_per_code=5, seed=0):
    """Rows of ``len(values)`` images: each row one z and c_cat, one continuous
    code swept over ``values`` (the others 0); ``rows_per_code`` rows per code."""
    from kerasgan.images import save_grid

    rng = np.random.default_rng(seed)
    images = []
    for code in range(gan.num_continuous):
        for r in range(rows_per_code):
            z = rng.standard_normal((1, gan.latent_dim)).astype("float32")
            c_cont = np.zeros((len(values), gan.num_continuous), "float32")
            c_cont[:, code] = values
            images.append(gan.generate(len(values), seed=0, codes={
                "z": np.repeat(z, len(values), 0), "c_cat": r % gan.num_categories,
                "c_cont": c_cont}))
    save_grid(np.concatenate(images), path, nrow=len(values), scale=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--figures", help="write the docs' sample pictures to this folder")
    args = parser.parse_args()

    from kerasgan import run as runs
    from kerasgan.images import save_grid
    from kerasgan.metrics.features import get_network

    print("| run | family | data | classified as requested | per class | time |")
    print("|---|---|---|---:|---|---:|")
    for run_dir in args.runs:
        gan = runs.load_run(run_dir)
        record = runs.read_json(os.path.join(run_dir, runs.RUN_FILE))
        name = os.path.basename(os.path.normpath(run_dir))
        if args.figures:
            images, nrow = gan.sample_grid(60 if (gan.num_classes or 0) <= 10 else 64, seed=0)
            save_grid(images, os.path.join(args.figures, f"{name}.png"), nrow=nrow, scale=2)
            if gan.family == "infogan":
                infogan_sweep(gan, os.path.join(args.figures, f"{name}-continuous.png"))
        if gan.family == "infogan" and tuple(gan.image_shape) == (28, 28, 1):
            start = time.perf_counter()
            purity, rows = code_purity(gan, get_network("mnist"), args.per_class)
            digits = len({d for d, _ in rows})
            cells = " ".join(f"{d}:{share:.2f}" for d, share in rows)
            print(f"| {name} | infogan (c_cat -> majority digit: share) | "
                  f"{record['data']['source']} | purity {purity:.2%}, {digits} distinct digits | "
                  f"{cells} | {time.perf_counter() - start:.1f} s |")
        if not gan.num_classes:
            continue
        domain = "mnist" if tuple(gan.image_shape) == (28, 28, 1) else "cifar10"
        start = time.perf_counter()
        overall, per_class = class_accuracy(gan, get_network(domain), args.per_class)
        cells = " ".join(f"{a:.2f}" for a in per_class)
        print(f"| {name} | {gan.family} | {record['data']['source']} | {overall:.2%} "
              f"({gan.num_classes} x {args.per_class}) | {cells} | "
              f"{time.perf_counter() - start:.1f} s |")


if __name__ == "__main__":
    main()
