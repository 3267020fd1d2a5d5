"""Turns a trained run into a zoo entry: generator file, sample grid, model card, and
the entry in kerasgan/zoo/catalog.json. The last step of every entry's recipe.

Usage (from the repository root):
    python zoo/build_entry.py RUN_DIR --name NAME --metrics RUN_DIR/metrics.json \
        --train-seconds S --paper "..." [--description "..."]
"""

import argparse
import json
import os
import platform
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CATALOG = os.path.join(REPO, "kerasgan", "zoo", "catalog.json")
DATASETS = {
    "../shared/data/mnist": ("MNIST", "CC BY-SA 3.0 (LeCun, Cortes, Burges)"),
    "mnist-10k": ("MNIST test split (bundled)", "CC BY-SA 3.0 (LeCun, Cortes, Burges)"),
    "runs/data/cifar10": ("CIFAR-10 (JPEG copy of ../shared/data/cifar10)",
                          "CIFAR-10 (Krizhevsky, 2009)"),
}
#: steps that must run before a recipe's `kerasgan train` for a data source.
PREPARE = {
    "runs/data/cifar10": [
        "mkdir -p runs/data && tar -xzf ../shared/data/cifar10/cifar10-jpg.tar.gz -C runs/data",
        "mkdir -p runs/data/cifar10 && mv runs/data/train runs/data/test runs/data/cifar10/",
    ],
}


def hardware():
    cpu = "CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores of {cpu}, no GPU ({platform.system()})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run")
    parser.add_argument("--name", required=True)
    parser.add_argument("--metrics", required=True, help="metrics.json from `kerasgan evaluate`")
    parser.add_argument("--train-seconds", type=float, required=True)
    parser.add_argument("--paper", required=True)
    parser.add_argument("--description", default="")
    parser.add_argument("--url", default=None, help="published base URL of the files")
    args = parser.parse_args()

    import kerasgan
    from kerasgan import run as runs
    from kerasgan.images import save_grid

    record = runs.read_json(os.path.join(args.run, runs.RUN_FILE))
    files = kerasgan.zoo.pack(args.run, args.name, os.path.join(REPO, "zoo"))
    gan = runs.load_run(args.run)
    grid_rel = f"zoo/{args.name}/samples.png"
    images, nrow = gan.sample_grid(64, seed=0)  # one row per class when conditional
    save_grid(images, os.path.join(REPO, grid_rel), nrow=nrow, scale=2)
    results = json.load(open(args.metrics))["results"]
    metrics = [{"metric": name, "value": round(float(r["value"]), 6), "network": r["network"],
                "num_gen": int(r["num_gen"]), "num_real": int(r.get("num_real") or 0),
                "reference": f"{r['data']}:{r['split']}" if r.get("data") else "—"}
               for name, r in sorted(results.items())]
    source = record["data"]["source"]
    dataset_name, licence = DATASETS.get(source, (source, "see the dataset"))
    source_data = open_source_size(source, record["data"]["split"])
    steps = record["epochs"] * (source_data // record["batch_size"])
    train_command = " ".join(a for a in record["command"].split() if a != "--quiet")
    recipe = "\n".join([
        *PREPARE.get(source, []),
        train_command,
        f"kerasgan evaluate runs/{args.name} --metrics {','.join(sorted(results))} "
        f"--out runs/{args.name}/metrics.json",
        f"python zoo/build_entry.py runs/{args.name} --name {args.name} "
        f"--metrics runs/{args.name}/metrics.json --train-seconds SECONDS --paper \"{args.paper}\"",
    ])
    entry = {
        "name": args.name,
        "family": record["family"],
        "description": args.description,
        "config": {k: v for k, v in record["model"].items() if k != "seed"},
        "dataset": {"name": dataset_name, "source": source, "split": record["data"]["split"],
                    "licence": licence},
        "resolution": list(record["model"]["image_shape"]),
        "files": files,
        "metrics": metrics,
        "training": {"epochs": record["epochs"], "batch_size": record["batch_size"],
                     "steps": steps, "time_s": round(args.train_seconds), "hardware": hardware()},
        "licence": "Apache-2.0 (weights); the training data's licence applies to what they learned",
        "paper": args.paper,
        "recipe": recipe,
        "card": f"zoo/{args.name}/README.md",
        "url": args.url,
    }
    catalog = json.load(open(CATALOG))
    catalog["entries"][args.name] = entry
    kerasgan.zoo.validate_catalog(catalog, families=set(kerasgan.models.names()))
    write_card(entry, os.path.join(REPO, entry["card"]))
    with open(CATALOG + ".tmp", "w") as f:
        json.dump(catalog, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(CATALOG + ".tmp", CATALOG)
    print(json.dumps(entry, indent=2))


def open_source_size(source, split):
    from kerasgan import data

    return len(data.open_source(source, split=split).images)


def write_card(entry, path):
    rows = "\n".join(
        f"| `{m['metric']}` | {m['value']:.4g} | {m['network']} | {m['num_gen']:,} | "
        f"{format(m['num_real'], ',') if m['num_real'] else '—'} | {m['reference']} |"
        for m in entry["metrics"])
    t = entry["training"]
    classes = entry["config"].get("num_classes") or entry["config"].get("num_categories")
    grid_text = ("64 samples, seed 0" if not classes else
                 f"seed 0, one row per {'class' if entry['config'].get('num_classes') else 'value of c_cat'}"
                 f" ({64 // classes} samples each, the same latents in every row)")
    card = f"""# {entry['name']}

{entry['description']}

![{grid_text}](samples.png)

*{grid_text}: `kerasgan zoo sample {entry['name']} --n 64 --seed 0 --out grid.png`.*

```python
gen = kerasgan.zoo.load("{entry['name']}")
gan = kerasgan.models.get_class("{entry['family']}").from_preset("{entry['name']}")
```

| | |
|---|---|
| family | `{entry['family']}` ({entry['paper']}) |
| config | `{json.dumps(entry['config'])}` |
| data | {entry['dataset']['name']} `{entry['dataset']['source']}`, split `{entry['dataset']['split']}` ({entry['dataset']['licence']}) |
| output | {'x'.join(map(str, entry['resolution']))}, float32 NHWC in [-1, 1] |
| training | {t['epochs']} epochs, batch {t['batch_size']}, {t['steps']:,} generator steps, {t['time_s'] / 60:.1f} min |
| hardware | {t['hardware']} |
| file | `{entry['files']['generator']['path']}` ({entry['files']['generator']['size'] / 1e6:.1f} MB, sha256 `{entry['files']['generator']['sha256']}`) |
| licence | {entry['licence']} |

## Measured

| metric | value | network | generated | real | reference |
|---|---:|---|---:|---:|---|
{rows}

`fd*_D` is the Fréchet distance in the features of kerasgan's classifier for
dataset D (fast on CPU); `acc*_D` the share of generated images that classifier
assigns to the requested class (labels cycle over the classes); `fid*` is FID with
the standard 2015-12-05 Inception network. See `docs/metrics.md` for the protocols.

## Reproduce

```
{entry['recipe']}
```
"""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(card)


if __name__ == "__main__":
    main()
