"""DRIT against CycleGAN on the same unpaired data: conversion, realism, diversity.

For each direction of each run, on held-out test images of the source domain:

- **conversion** (CIFAR-10 only): the share of translations that kerasgan's
  CIFAR-10 classifier (``kerasgan.metrics.domain``, 86.7% test accuracy)
  assigns to the target class;
- **realism**: the Fréchet distance of the translations to the real test
  images of the target domain, in the features of that classifier (CIFAR-10:
  "domain FD") or of the FID Inception network (facades: FID, and KID x 1000,
  which is unbiased at a hundred images);
- **diversity**: for the first ``--diversity-inputs`` inputs, ``--attributes``
  outputs each (DRIT: attributes drawn from N(0, I); CycleGAN: its one output,
  repeated, as it has no other), the mean pairwise L2 distance of their
  features, and the mean pairwise L1 distance of their pixels (in [-1, 1]).

The untranslated inputs are scored too ("identity"): what a model that does
nothing gets. Writes a JSON file and prints a markdown table; ``--grids``
writes the pictures of ``docs/families/drit.md`` (random-attribute rows,
reference-guided grid, CycleGAN beside DRIT).

Example (after ``runs/drit/launch.sh``; see docs/families/drit.md)::

    python benchmarks/drit_vs_cyclegan.py --data cifar \\
        --drit runs/drit/drit-cifar --cyclegan runs/drit/cyclegan-cifar \\
        --out runs/drit/cifar.json --grids docs/images
"""

import argparse
import json
import os
import sys
import time

import numpy as np


def load_test(data, root):
    """``(a, b, names)``: the test images of both domains as float32 in
    [-1, 1]."""
    from kerasgan.data import open_unpaired

    if data == "cifar":
        test = os.path.join(root, "cifar10", "test")
        src = open_unpaired(os.path.join(test, "cat"), os.path.join(test, "dog"))
        names = ("cat", "dog")
    else:
        src = open_unpaired(os.path.join(root, "facades"), split="test", resize=64)
        names = ("photo", "label map")
    f = lambda x: x.astype("float32") / 127.5 - 1.0  # noqa: E731
    return f(src.a), f(src.b), names


def translations(model, x, direction, k, seed):
    """``(N, k, H, W, C)`` outputs for ``x``: DRIT with ``k`` random attributes,
    a one-output model repeated ``k`` times."""
    if hasattr(model, "attribute_grid"):
        return model.translate(x, direction=direction, n=k, seed=seed, batch_size=64)
    out = model.translate(x, direction=direction, batch_size=64)
    return np.repeat(out[:, None], k, axis=1)


def pairwise_mean(v):
    """Mean pairwise L2 distance over the second axis of ``(N, k, D)``, averaged over N."""
    n, k = v.shape[:2]
    total, count = 0.0, 0
    for i in range(k):
        for j in range(i + 1, k):
            total += float(np.mean(np.linalg.norm(v[:, i] - v[:, j], axis=-1)))
            count += 1
    return total / count


def score(net, outputs, target_real, target_class, diverse, kid=False):
    """The scores of one set of translations."""
    from kerasgan.metrics import stats

    fake = net(outputs, batch_size=100)
    real = net(target_real, batch_size=100)
    result = {"realism_fd": float(stats.fid_from_features(real["features"], fake["features"]))}
    if kid:
        result["kid_x1000"] = 1000 * float(stats.kernel_inception_distance(
            real["features"], fake["features"], num_subsets=100,
            max_subset_size=min(len(outputs), len(target_real)))[0])
    if target_class is not None:
        result["conversion"] = float(np.mean(np.argmax(fake["logits"], -1) == target_class))
    if diverse is not None:
        n, k = diverse.shape[:2]
        feats = net(diverse.reshape((-1, *diverse.shape[2:])), batch_size=100)["features"]
        result["diversity_features"] = pairwise_mean(feats.reshape((n, k, -1)))
        result["diversity_pixels_l1"] = float(np.mean([
            np.mean(np.abs(diverse[:, i] - diverse[:, j]))
            for i in range(k) for j in range(i + 1, k)]))
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", choices=("cifar", "facades"), required=True)
    p.add_argument("--drit", required=True, help="DRIT run folder")
    p.add_argument("--cyclegan", required=True, help="CycleGAN run folder")
    p.add_argument("--root", default="runs/data", help="folder with cifar10/ (cifar)")
    p.add_argument("--shared", default="../shared/data", help="folder with facades/")
    p.add_argument("--attributes", type=int, default=5)
    p.add_argument("--diversity-inputs", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON results")
    p.add_argument("--grids", default=None, help="folder for the pictures")
    p.add_argument("--zoo-metrics", default=None, help="also write DRIT's scores (with "
                   "Inception FID) in the format of `kerasgan evaluate --out`, for its zoo entry")
    args = p.parse_args(argv)

    from kerasgan import run as runs
    from kerasgan.metrics.features import get_network

    root = args.root if args.data == "cifar" else args.shared
    a, b, names = load_test(args.data, root)
    net = get_network("cifar10" if args.data == "cifar" else "inception")
    classes = None
    if args.data == "cifar":
        from kerasgan.metrics.domain import NETWORKS

        class_names = list(NETWORKS["cifar10"].class_names)
        classes = {"AtoB": class_names.index("dog"), "BtoA": class_names.index("cat")}
    models = {"drit": runs.load_run(args.drit), "cyclegan": runs.load_run(args.cyclegan)}
    results = {"data": args.data, "domains": names, "test_images": [len(a), len(b)],
               "feature_network": net.description, "attributes": args.attributes,
               "diversity_inputs": args.diversity_inputs, "seed": args.seed, "rows": []}
    m = args.diversity_inputs
    for direction, source, target in (("AtoB", a, b), ("BtoA", b, a)):
        label = f"{names[0]} → {names[1]}" if direction == "AtoB" else \
            f"{names[1]} → {names[0]}"
        target_class = classes[direction] if classes else None
        row = score(net, source, target, target_class, None, kid=args.data == "facades")
        row.update(model="identity (input unchanged)", direction=label, diversity_features=0.0,
                   diversity_pixels_l1=0.0)
        results["rows"].append(row)
        for name, model in models.items():
            t = time.time()
            out = translations(model, source, direction, 1, args.seed)[:, 0]
            diverse = translations(model, source[:m], direction, args.attributes,
                                   args.seed + 1)
            row = score(net, out, target, target_class, diverse, kid=args.data == "facades")
            row.update(model=name, direction=label, seconds=round(time.time() - t, 1))
            results["rows"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(table(results))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    if args.grids:
        write_grids(models, a, b, names, args.data, args.grids, args.seed)
    if args.zoo_metrics:
        write_zoo_metrics(results, models["drit"], a, b, names, args, net)


def write_zoo_metrics(results, drit, a, b, names, args, net):
    """DRIT's rows as ``kerasgan evaluate``'s results (name -> value, network,
    counts, reference), plus Inception FID of the translations."""
    from kerasgan.metrics import stats
    from kerasgan.metrics.features import get_network

    inception = get_network("inception")
    reference = "runs/data/cifar10" if args.data == "cifar" else "../shared/data/facades"
    out = {}
    for direction, source, target in (("AtoB", a, b), ("BtoA", b, a)):
        tag = (f"{names[0]}_to_{names[1]}" if direction == "AtoB" else
               f"{names[1]}_to_{names[0]}").replace(" ", "_")
        label = tag.replace("_to_", " → ").replace("_", " ")
        row = next(r for r in results["rows"]
                   if r["model"] == "drit" and r["direction"] == label)
        common = {"num_gen": len(source), "num_real": len(target), "data": reference,
                  "split": "test"}
        if "conversion" in row:
            out[f"conversion1k_{tag}"] = dict(
                common, value=row["conversion"], num_real=0,
                network="share of translations kerasgan's CIFAR-10 classifier assigns to "
                        "the target class (random attributes, seed 0)")
        fd_name = "fd1k_cifar10" if args.data == "cifar" else "fid"
        out[f"{fd_name}_{tag}"] = dict(common, value=row["realism_fd"],
                                       network=results["feature_network"])
        out[f"diversity{args.diversity_inputs}x{args.attributes}_{tag}"] = dict(
            common, value=row["diversity_features"], num_gen=args.diversity_inputs * args.attributes,
            num_real=0, network="mean pairwise L2 distance of the features of one input's "
                                "translations under random attributes")
        if args.data == "cifar":
            fake = inception(drit.translate(source, direction=direction, n=1, seed=args.seed,
                                            batch_size=64)[:, 0], batch_size=50)["features"]
            real = inception(target, batch_size=50)["features"]
            out[f"fid1k_{tag}"] = dict(common, value=float(stats.fid_from_features(real, fake)),
                                       network=inception.description)
    with open(args.zoo_metrics, "w") as f:
        json.dump({"results": out, "source": "benchmarks/drit_vs_cyclegan.py"}, f, indent=2)
    print(f"wrote {args.zoo_metrics}", file=sys.stderr)


def table(results):
    kid = any("kid_x1000" in r for r in results["rows"])
    conv = any("conversion" in r for r in results["rows"])
    head = ["direction", "model"] + (["conversion"] if conv else []) + \
        ["realism FD" if not kid else "FID", *(["KID×1000"] if kid else []),
         "diversity (features)", "diversity (pixels L1)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results["rows"]:
        cells = [r["direction"], r["model"]]
        if conv:
            cells.append(f"{100 * r['conversion']:.1f}%")
        cells.append(f"{r['realism_fd']:.2f}")
        if kid:
            cells.append(f"{r['kid_x1000']:.1f}")
        cells += [f"{r['diversity_features']:.3f}", f"{r['diversity_pixels_l1']:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_grids(models, a, b, names, data, folder, seed):
    """``drit-<data>-attributes.png`` (inputs down the side, attributes across,
    both directions), ``drit-<data>-reference.png`` (references across the top,
    inputs down the side) and ``drit-<data>-vs-cyclegan.png``."""
    from kerasgan.images import save_grid

    os.makedirs(folder, exist_ok=True)
    drit, cyclegan = models["drit"], models["cyclegan"]
    scale = 2 if data == "cifar" else 1
    rows = 6
    grid_ab, k = drit.attribute_grid(a[:rows], n=6, seed=seed, direction="AtoB")
    grid_ba, _ = drit.attribute_grid(b[:rows], n=6, seed=seed, direction="BtoA")
    save_grid(np.concatenate([grid_ab, grid_ba]), os.path.join(folder, f"drit-{data}-attributes.png"),
              nrow=k, scale=scale)
    # reference-guided: an empty corner, the references across, then each input
    # followed by its translations with each reference's attribute
    refs, inputs = b[10:16], a[20:26]
    cells = [np.ones_like(a[0])] + list(refs)
    for x in inputs:
        out = drit.translate(np.repeat(x[None], len(refs), 0), reference=refs)
        cells += [x] + list(out)
    save_grid(np.stack(cells), os.path.join(folder, f"drit-{data}-reference.png"),
              nrow=1 + len(refs), scale=scale)
    # CycleGAN's one output beside DRIT's several
    x = a[:rows]
    cyc = cyclegan.translate(x)
    dr = drit.translate(x, n=4, seed=seed)
    cells = np.concatenate([x[:, None], cyc[:, None], dr], axis=1)
    save_grid(cells.reshape((-1, *x.shape[1:])), os.path.join(folder, f"drit-{data}-vs-cyclegan.png"),
              nrow=cells.shape[1], scale=scale)
    print(f"wrote pictures to {folder}", file=sys.stderr)


if __name__ == "__main__":
    main()
