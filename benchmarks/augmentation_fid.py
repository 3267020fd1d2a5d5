"""Data-efficient training, measured: no augmentation vs DiffAugment vs ADA at equal budget.

For each data set (CIFAR-10 with 100%, 20% and 10% of the training images; a
small set of 1,000 MNIST digits) and each augmentation setting, trains the same
family for the same number of generator steps with the project's own CLI
(``kerasgan train``, resumed in chunks), and after each chunk scores the run
with ``kerasgan evaluate`` (the same metric, network and sample counts for every
run). Writes ``OUT/results.json``, a table (``OUT/table.md``) and the
FD-over-steps picture (``--plot``).

Subsets are class-balanced (the first N/10 images of each class in file-name
order) and written once as ``.npz`` under ``OUT/data``.

The runs advance chunk by chunk together (every run's first chunk, then every
run's second, ...), so a script stopped at any time leaves every run of a set at
the same step count. Every run folder resumes: start the script again with the
same arguments; finished chunks are not trained or scored again.

    python benchmarks/augmentation_fid.py --cifar ../shared/data/cifar10 --out runs/aug
    python benchmarks/augmentation_fid.py --out runs/aug --table        # table only
    python benchmarks/augmentation_fid.py --out runs/aug --plot docs/images/augmentation_fid.png
"""

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
#: the kerasgan command, run by this interpreter (as the tests run it)
KERASGAN = [sys.executable, "-m", "kerasgan.cli"]
MODES = {"none": None, "diffaugment": "diffaugment", "ada": "ada"}


def _log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


# ----------------------------------------------------------------- data
def _cifar_folder(cifar, out):
    """The CIFAR-10 JPEG folder (``train/<class>/*.jpg``, ``test/...``), extracted once."""
    folder = os.path.join(out, "data", "cifar10")
    if os.path.isdir(os.path.join(folder, "test")):
        return folder
    archive = os.path.join(cifar, "cifar10-jpg.tar.gz")
    tmp = folder + ".partial"
    os.makedirs(tmp, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
    for split in ("train", "test"):
        found = next(os.path.join(d, split) for d, subdirs, _ in os.walk(tmp) if split in subdirs)
        os.replace(found, os.path.join(tmp, split))
    os.replace(tmp, folder)
    return folder


def _read_folder(folder, per_class):
    from PIL import Image

    images, labels = [], []
    for label, name in enumerate(sorted(os.listdir(folder))):
        files = sorted(os.listdir(os.path.join(folder, name)))[:per_class]
        for f in files:
            with Image.open(os.path.join(folder, name, f)) as im:
                images.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
            labels.append(label)
    return np.stack(images), np.asarray(labels, np.int32)


def cifar_subset(cifar, out, fraction):
    """``OUT/data/cifar10-<pct>.npz``: a class-balanced ``fraction`` of CIFAR-10 train."""
    path = os.path.join(out, "data", f"cifar10-{round(fraction * 100)}pct.npz")
    if not os.path.exists(path):
        folder = _cifar_folder(cifar, out)
        x, y = _read_folder(os.path.join(folder, "train"), round(5000 * fraction))
        np.savez(path + ".partial.npz", x=x, y=y)
        os.replace(path + ".partial.npz", path)
    return path


def mnist_subset(mnist, out, n):
    """``OUT/data/mnist-<n>.npz``: the first ``n // 10`` digits of each class of MNIST train."""
    path = os.path.join(out, "data", f"mnist-{n}.npz")
    if not os.path.exists(path):
        x, y = _mnist_arrays(mnist)
        keep = np.concatenate([np.flatnonzero(y == c)[: n // 10] for c in range(10)])
        np.savez(path + ".partial.npz", x=x[keep], y=y[keep])
        os.replace(path + ".partial.npz", path)
    return path


def _mnist_arrays(mnist):
    import gzip

    def read(name):
        for candidate in (name, name + ".gz"):
            full = os.path.join(mnist, candidate)
            if os.path.exists(full):
                opener = gzip.open if full.endswith(".gz") else open
                with opener(full, "rb") as f:
                    return f.read()
        raise FileNotFoundError(os.path.join(mnist, name))

    raw = read("train-images-idx3-ubyte")
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28, 1)
    raw = read("train-labels-idx1-ubyte")
    y = np.frombuffer(raw, np.uint8, offset=8).astype(np.int32)
    return x, y


# ----------------------------------------------------------------- runs
def _run(cmd, log):
    _log(" ".join(cmd))
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        result = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if result.returncode:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(cmd)}; see {log}")


def experiment(args, name, data, n_images, mode, metric, reference, family_flags, upto=None):
    """Trains ``name`` in chunks (the first ``upto``; all by default), scoring
    after each; returns its record."""
    run = os.path.join(args.out, name)
    os.makedirs(run, exist_ok=True)
    record_path = os.path.join(run, "curve.json")
    record = {"name": name, "data": data, "images": n_images, "mode": mode,
              "metric": metric, "points": []}
    if os.path.exists(record_path):
        with open(record_path) as f:
            record = json.load(f)
    steps_per_epoch = n_images // args.batch_size
    done = {p["step"] for p in record["points"]}
    log = os.path.join(run, "log.txt")
    for chunk in range(1, (upto or args.chunks) + 1):
        step = args.steps * chunk // args.chunks
        if step in done:
            continue
        epochs = max(1, round(step / steps_per_epoch))
        cmd = [*KERASGAN, "train", args.family, "--data", data,
               "--epochs", str(epochs), "--batch-size", str(args.batch_size), "--seed",
               str(args.seed), "--out", os.path.join(run, "train"), "--quiet",
               *family_flags]
        if MODES[mode]:
            cmd += ["--augment", MODES[mode]]
        start = time.time()
        _run(["nice", "-n", str(args.nice), *cmd], log)
        seconds = time.time() - start
        metrics_json = os.path.join(run, f"metrics-{step}.json")
        _run(["nice", "-n", str(args.nice), *KERASGAN, "evaluate",
              os.path.join(run, "train"), "--metrics", metric, "--data", reference[0],
              "--split", reference[1], "--seed", "0", "--out", metrics_json], log)
        with open(metrics_json) as f:
            value = json.load(f)["results"][metric]["value"]
        history = _history(os.path.join(run, "train"))
        record["points"].append({"step": epochs * steps_per_epoch, "value": value,
                                 "train_seconds": round(seconds, 1), **history})
        with open(record_path + ".partial", "w") as f:
            json.dump(record, f, indent=1)
        os.replace(record_path + ".partial", record_path)
        _log(name, "step", epochs * steps_per_epoch, metric, round(value, 3), history)
    return record


def _history(run):
    """The last epoch's r_t and p from the run's history.csv."""
    import csv

    path = os.path.join(run, "history.csv")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    last = rows[-1]
    return {k: round(float(last[k]), 4) for k in ("r_t", "aug_p") if last.get(k)}


def experiments(args):
    """(name, data, n_images, mode, metric, reference, flags) of every run."""
    plan = []
    cifar_ref = (_cifar_folder(args.cifar, args.out), "test")
    for fraction in args.fractions:
        data = cifar_subset(args.cifar, args.out, fraction)
        for mode in args.modes:
            plan.append((f"cifar10-{round(fraction * 100)}pct-{mode}", data,
                         round(50000 * fraction),
                         mode, "fd10k_cifar10", cifar_ref, args.family_flags))
    if args.small:
        data = mnist_subset(args.mnist, args.out, args.small)
        for mode in args.modes:
            plan.append((f"mnist{args.small}-{mode}", data, args.small, mode, "fd10k_mnist",
                         (args.mnist, "test"), args.family_flags))
    return plan


# --------------------------------------------------------------- report
def load_records(out):
    records = []
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name, "curve.json")
        if os.path.exists(path):
            with open(path) as f:
                record = json.load(f)
            record["dir"] = os.path.join(out, name)
            records.append(record)
    return records


def _fid(record, step):
    """The run's Inception ``fid5k`` at ``step`` (``fid5k-STEP.json``), or None."""
    path = os.path.join(record.get("dir", ""), f"fid5k-{step}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["results"]["fid5k"]["value"]


def _label(record):
    """The data set of a run, for tables and plots."""
    if record["metric"].endswith("cifar10"):
        return f"CIFAR-10, {record['images'] / 500:g}%"
    return f"MNIST, {record['images']:,} digits"


def table(records):
    """Markdown: for each data set, the final score of each mode and its ratio to none."""
    by_set = {}
    for r in sorted(records, key=lambda r: (r["metric"].endswith("mnist"), -r["images"])):
        by_set.setdefault(_label(r), {})[r["mode"]] = r
    lines = ["| data | images | steps | metric | none | DiffAugment | ADA | final r_t (none / DA / ADA) | final ADA p |",
             "|---|---:|---:|---|---:|---:|---:|---|---:|"]
    for key, modes in by_set.items():
        any_r = next(iter(modes.values()))
        # the largest step count every mode of the set reached: equal budgets
        common = set.intersection(*({p["step"] for p in r["points"]} for r in modes.values()))
        at = max(common, default=None)
        last = {m: next((p for p in r["points"] if p["step"] == at), None)
                for m, r in modes.items()}
        base = last.get("none")

        def cell(mode):
            p = last.get(mode)
            if p is None:
                return "–"
            text = f"{p['value']:.3f}"
            if base is not None and mode != "none":
                text += f" ({(p['value'] / base['value'] - 1) * 100:+.0f}%)"
            return text

        step = max((p["step"] for p in last.values() if p), default=0)
        rts = " / ".join(f"{last[m]['r_t']:.2f}" if last.get(m) and "r_t" in last[m] else "–"
                         for m in ("none", "diffaugment", "ada"))
        ada_p = last.get("ada", {}) or {}
        lines.append(f"| {key} | {any_r['images']:,} | {step:,} | `{any_r['metric']}` | "
                     f"{cell('none')} | {cell('diffaugment')} | {cell('ada')} | {rts} | "
                     f"{ada_p.get('aug_p', float('nan')):.3f} |")
    lines += ["", "Inception FID (`fid5k`: 5,000 generated against 5,000 test images) at the "
              "same step, where computed:", "",
              "| data | steps | none | DiffAugment | ADA |", "|---|---:|---:|---:|---:|"]
    for key, modes in by_set.items():
        common = set.intersection(*({p["step"] for p in r["points"]} for r in modes.values()))
        at = max(common, default=None)
        values = {m: _fid(r, at) for m, r in modes.items()}
        if at is None or all(v is None for v in values.values()):
            continue
        base = values.get("none")

        def fid_cell(mode):
            v = values.get(mode)
            if v is None:
                return "–"
            if base is not None and mode != "none":
                return f"{v:.1f} ({(v / base - 1) * 100:+.0f}%)"
            return f"{v:.1f}"

        lines.append(f"| {key} | {at:,} | {fid_cell('none')} | {fid_cell('diffaugment')} | "
                     f"{fid_cell('ada')} |")
    lines += ["", "Best score along each run (the step it was reached):", "",
              "| data | none | DiffAugment | ADA |", "|---|---:|---:|---:|"]
    for key, modes in by_set.items():
        cells = []
        for mode in ("none", "diffaugment", "ada"):
            r = modes.get(mode)
            if not r or not r["points"]:
                cells.append("–")
                continue
            best = min(r["points"], key=lambda p: p["value"])
            cells.append(f"{best['value']:.3f} ({best['step']:,})")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(records, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = {_label(r): (r["metric"].endswith("mnist"), -r["images"]) for r in records}
    sets = sorted(order, key=order.get)
    fig, axes = plt.subplots(1, len(sets), figsize=(4 * len(sets), 3.4), squeeze=False)
    colours = {"none": "tab:gray", "diffaugment": "tab:blue", "ada": "tab:orange"}
    rank = {"none": 0, "diffaugment": 1, "ada": 2}
    records = sorted(records, key=lambda r: rank.get(r["mode"], 3))
    for ax, key in zip(axes[0], sets):
        for r in records:
            if _label(r) != key or not r["points"]:
                continue
            steps = [p["step"] for p in r["points"]]
            values = [p["value"] for p in r["points"]]
            ax.plot(steps, values, "o-", color=colours.get(r["mode"]), label=r["mode"])
            ax.set_ylabel(r["metric"])
        ax.set_title(key)
        ax.set_xlabel("generator steps")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _log("wrote", path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/aug")
    parser.add_argument("--cifar", default=os.path.join(ROOT, "..", "shared", "data", "cifar10"))
    parser.add_argument("--mnist", default=os.path.join(ROOT, "..", "shared", "data", "mnist"))
    parser.add_argument("--family", default="dcgan")
    parser.add_argument("--family-flags", default="--width 32 --latent-dim 64",
                        help="flags passed to kerasgan train (the network size)")
    parser.add_argument("--fractions", default="0.1,0.2,1.0")
    parser.add_argument("--modes", default="none,diffaugment,ada")
    parser.add_argument("--small", type=int, default=1000,
                        help="MNIST digits of the small set (0: skip it)")
    parser.add_argument("--steps", type=int, default=2000, help="generator steps of every run")
    parser.add_argument("--chunks", type=int, default=4, help="scores per run (FD over steps)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nice", type=int, default=10)
    parser.add_argument("--only", default=None, help="comma-separated run names to run")
    parser.add_argument("--prepare", action="store_true",
                        help="only write the data subsets (OUT/data) and stop")
    parser.add_argument("--table", action="store_true", help="print the table of what exists")
    parser.add_argument("--plot", default=None, help="write the FD-over-steps picture here")
    args = parser.parse_args(argv)
    args.fractions = [float(f) for f in args.fractions.split(",")]
    args.modes = args.modes.split(",")
    args.family_flags = args.family_flags.split()
    os.makedirs(os.path.join(args.out, "data"), exist_ok=True)
    if args.prepare:
        for path in sorted({spec[1] for spec in experiments(args)}):
            _log("ready:", path)
        return
    if not (args.table or args.plot):
        only = set(args.only.split(",")) if args.only else None
        plan = [spec for spec in experiments(args) if only is None or spec[0] in only]
        # chunk by chunk across the runs: stopped at any time, every run of a
        # set has reached the same step count (the table compares equal budgets)
        for chunk in range(1, args.chunks + 1):
            for spec in plan:
                experiment(args, *spec, upto=chunk)
    records = load_records(args.out)
    text = table(records)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    if args.plot:
        plot(records, args.plot)


if __name__ == "__main__":
    main()
