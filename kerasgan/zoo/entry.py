"""Turns an evaluated run into a zoo entry: the generator file (and a text
entry's vocabulary), a sample (a PNG grid, or ``samples.txt`` for a text
entry), the model card and the catalog record. The maintainer's last step of
every entry's recipe, behind ``kerasgan zoo pack RUN --name NAME --metrics
M.json --train-seconds S`` and ``python zoo/build_entry.py``.

Example:
    >>> entry = build_entry("runs/captions", "captions-coco", "runs/captions/metrics.json",
    ...                     train_seconds=3600)            # zoo/captions-coco/, the catalog
"""

import json
import os
import platform
import re

from kerasgan.zoo.catalog import CATALOG_FORMAT, CatalogError, check_name, validate_catalog

#: a known ``--data`` -> (dataset name for the card, its licence)
DATASETS = {
    "../shared/data/mnist": ("MNIST", "CC BY-SA 3.0 (LeCun, Cortes, Burges)"),
    "mnist-10k": ("MNIST test split (bundled)", "CC BY-SA 3.0 (LeCun, Cortes, Burges)"),
    "runs/data/cifar10": ("CIFAR-10 (JPEG copy of ../shared/data/cifar10)",
                          "CIFAR-10 (Krizhevsky, 2009)"),
    "runs/aug/data/cifar10-10pct.npz": (
        "CIFAR-10, 10% of train (5,000 images: the first 500 of each class in file-name order)",
        "CIFAR-10 (Krizhevsky, 2009)"),
    "../shared/data/facades": ("CMP Facades, photo and label map side by side (400 train / 106 test pairs)",
                               "CMP Facades (Tyleček and Šára, 2013), research use"),
    "runs/data/cifar10k": ("CIFAR-10, 10,000 train images (the first 1,000 of each class in "
                           "file-name order); test: the 10,000 test images",
                           "CIFAR-10 (Krizhevsky, 2009)"),
    "../shared/data/text/image_coco": (
        "Image COCO captions (Texygen benchmark: 9,999 train / 9,999 test)",
        "MIT (Texygen, Zhu et al. 2018); captions from MS COCO Captions, CC BY 4.0"),
}
#: steps that must run before a recipe's ``kerasgan train`` for a data source
PREPARE = {
    "runs/aug/data/cifar10-10pct.npz": [
        "python benchmarks/augmentation_fid.py --out runs/aug --prepare --fractions 0.1 "
        "--small 0",
    ],
    "runs/data/cifar10": [
        "mkdir -p runs/data && tar -xzf ../shared/data/cifar10/cifar10-jpg.tar.gz -C runs/data",
        "mkdir -p runs/data/cifar10 && mv runs/data/train runs/data/test runs/data/cifar10/",
    ],
}
PREPARE["runs/data/cifar10k"] = PREPARE["runs/data/cifar10"] + [
    "for d in runs/data/cifar10/train/*/; do c=$(basename $d); "
    "mkdir -p runs/data/cifar10k/train/$c; ls $d | head -1000 | while read f; do "
    "ln -sf \"$(pwd)/$d$f\" runs/data/cifar10k/train/$c/$f; done; done",
    "ln -sfn \"$(pwd)/runs/data/cifar10/test\" runs/data/cifar10k/test",
]
#: the record of a run folder (``kerasgan.run.RUN_FILE``; the zoo sits below the run layer)
RUN_FILE = "run.json"
#: sentences in a text entry's ``samples.txt`` (seed 0, temperature 1)
TEXT_SAMPLES = 20
#: what a text score measures (``metrics.json`` of ``kerasgan evaluate`` holds the numbers only)
_BLEU = ("Texygen's BLEU: NLTK sentence BLEU, weights 1/{n}, method1 smoothing, "
         "whitespace tokens, mean over the generated sentences")
TEXT_PROTOCOLS = {
    "bleu": "BLEU-{n} against every reference sentence (" + _BLEU + ")",
    "self_bleu": "self-BLEU-{n}: each generated sentence against the other generated ones "
                 "(lower is more diverse; " + _BLEU + ")",
    "nll_oracle": "NLL per token (nats) of the samples under the oracle LSTM (Yu et al. 2017)",
    "nll_test": "NLL per token (nats) of the reference sentences under the generator",
}
EVALUATE_DEFAULTS = {"num_gen": 2000, "temperature": 1.0, "seed": 0}


def hardware():
    """The machine, for the card: ``"2 cores of <CPU model>, no GPU (Linux)"``."""
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


def catalog_for(zoo_dir):
    """The catalog a zoo folder's entries go to: the package's
    ``kerasgan/zoo/catalog.json`` of the checkout for the checkout's ``zoo/``,
    else ``ZOO_DIR/catalog.json``."""
    zoo_dir = os.path.abspath(zoo_dir)
    sibling = os.path.join(os.path.dirname(zoo_dir), "kerasgan", "zoo", "catalog.json")
    if os.path.isfile(os.path.join(zoo_dir, "build_entry.py")) and os.path.isfile(sibling):
        return sibling
    return os.path.join(zoo_dir, "catalog.json")


def _option(command, flag):
    words = command.split()
    return words[words.index(flag) + 1] if flag in words[:-1] else None


def _references(report, root):
    """``(path, count)`` of the reference sentences a text ``metrics.json``
    names (the path relative to ``root``), or ``("—", 0)``."""
    match = re.fullmatch(r"(?:text:)?(.*) \((\d+) sentences\)", str(report.get("references") or ""))
    if not match:
        return "—", 0
    path = match.group(1)
    return (os.path.relpath(path, root) if os.path.isabs(path) else path), int(match.group(2))


def _text_metrics(report, root):
    """Catalog metric records of a text ``metrics.json`` (``results``: name -> number)."""
    references, num_real = _references(report, root)
    temperature = float(report.get("temperature", 1.0))
    records = []
    for name, value in sorted(report["results"].items()):
        base, n = re.fullmatch(r"(.*?)(\d*)", name).groups()
        protocol = TEXT_PROTOCOLS.get(base, name)
        real = base in ("bleu", "nll_test") and references != "—"
        records.append({"metric": name, "value": round(float(value), 6),
                        "network": protocol.format(n=n or "n"),
                        "num_gen": int(report.get("num_gen", 0)),
                        "num_real": num_real if real else 0,
                        "reference": references if real else "—",
                        "temperature": temperature})
    return records


#: how the paired scores of ``kerasgan evaluate --metrics psnr,ssim`` are computed
PAIRED_PROTOCOL = ("{name} of the translated test inputs against their targets (uint8 RGB, "
                   "tf.image.{name}, mean over pairs)")


def _paired_metrics(report, root=None):
    """Catalog records of a paired report (``psnr``/``ssim`` of the model and of
    each trivial baseline, named ``psnr_baseline_input`` and so on)."""
    data = report.get("data", "—")
    if root:  # the recipe's paths are relative to the repository root
        data = data.replace(os.path.abspath(root) + os.sep, "")
    records = []
    for owner, scores in [("", report["results"])] + sorted(
            (f"_baseline_{k}", v) for k, v in report.get("baselines", {}).items()):
        for name in ("psnr", "ssim"):
            if name in scores:
                network = PAIRED_PROTOCOL.format(name=name)
                if owner:  # a trivial baseline, e.g. the input itself as the output
                    network = network.replace("the translated test inputs",
                                              f"the baseline output ({owner.split('_')[-1]})")
                records.append({"metric": name + owner, "value": round(float(scores[name]), 6),
                                "network": network, "num_gen": int(scores["num_pairs"]),
                                "num_real": int(scores["num_pairs"]), "reference": data})
    return records


def _image_metrics(report, root=None):
    if "baselines" in report:
        return _paired_metrics(report, root)
    return [{"metric": name, "value": round(float(r["value"]), 6), "network": r["network"],
             "num_gen": int(r["num_gen"]), "num_real": int(r.get("num_real") or 0),
             "reference": f"{r['data']}:{r['split']}" if r.get("data") else "—"}
            for name, r in sorted(report["results"].items())]


def _evaluate_command(report, names, run_ref, text, source, root):
    """The ``kerasgan evaluate`` line that made ``metrics.json``."""
    if text:
        asked = sorted({re.sub(r"\d+$", "", n) if n.startswith(("bleu", "self_bleu")) else n
                        for n in names})
        defaults = dict(EVALUATE_DEFAULTS, num_gen=10000 if "nll_oracle" in names else 2000)
        extra = "".join(f" --{k.replace('_', '-')} {report[k]}"
                        for k in ("num_gen", "temperature", "seed")
                        if k in report and report[k] != defaults[k])
        references, _ = _references(report, root)
        default = os.path.normpath(source or "")
        if references != "—" and os.path.normpath(references) != default \
                and os.path.dirname(os.path.normpath(references)) != default:
            extra += f" --data {references}"  # not the run's own test split
    else:  # a paired report also holds num_pairs and the stds
        asked, extra = sorted(n for n in names if "baselines" not in report
                              or n in ("psnr", "ssim")), ""
    return (f"kerasgan evaluate {run_ref} --metrics {','.join(asked)}{extra} "
            f"--out {run_ref}/metrics.json")


def _lookup(table, source, default=None):
    """``table[source]``, or the entry of the longest key that is a folder
    above ``source`` (``runs/data/cifar10`` for ``runs/data/cifar10/train/cat``)."""
    if source in table:
        return table[source]
    norm = os.path.normpath(str(source))
    above = [k for k in table if norm.startswith(os.path.normpath(k) + os.sep)]
    return table[max(above, key=len)] if above else default


def build_entry(run, name, metrics, train_seconds, paper=None, description="", url=None,
                zoo_dir="zoo", catalog_path=None, command="python zoo/build_entry.py",
                grid=None, evaluate_command=None):
    """Writes entry ``name`` of an evaluated run and records it in the catalog.

    Writes ``ZOO_DIR/NAME/``: ``generator.weights.h5`` (the EMA generator when
    the run kept one; :func:`kerasgan.zoo.pack`), a text entry's
    ``vocabulary.json``, the sample (``samples.png``, 64 images at seed 0, one
    row per class when conditional; a text entry: ``samples.txt``,
    :data:`TEXT_SAMPLES` sentences at seed 0 and temperature 1, one a line)
    and the card ``README.md``; then the entry (files with sha256 and size,
    metrics with their protocol, training, recipe), validated with the whole
    catalog before the catalog file is replaced.

    Args:
        run: a finished run folder of ``kerasgan train`` (its ``run.json`` and
            ``gan.keras``).
        name: the entry name (lowercase letters, digits, ``-``).
        metrics: the ``metrics.json`` of ``kerasgan evaluate RUN --out``
            (image metrics, or ``bleu,self_bleu`` / ``nll_*`` of a text run).
        train_seconds: the training's wall time.
        paper: the family's paper (default: its spec's references).
        description: a paragraph for the card.
        url: the published base URL of the files (None: not published).
        zoo_dir: the zoo folder.
        catalog_path: the catalog to update (default :func:`catalog_for`).
        command: how the card's recipe names this step.
        grid: a PNG to ship as ``samples.png`` instead of sampling the
            generator (a translation entry's grid of real test inputs and their
            translations), with its caption: ``(path, caption)``.
        evaluate_command: the recipe's scoring line when the metrics did not
            come from ``kerasgan evaluate`` (a benchmark script's, in its format).

    Returns:
        The catalog entry (a dict).

    Raises:
        CatalogError: a bad name, no run record, a metrics file that is not
            ``kerasgan evaluate``'s, or an entry the schema refuses (nothing is
            written to the catalog then).
    """
    from kerasgan import models
    from kerasgan.images import atomic_write, save_grid
    from kerasgan.spec import TOKEN_SEQUENCE
    from kerasgan.zoo.api import load_packable, pack

    check_name(name)
    run = os.fspath(run)
    record_path = os.path.join(run, RUN_FILE)
    if not os.path.isfile(record_path):
        raise CatalogError(f"{run} is not a finished run folder (no {RUN_FILE}): pass the "
                           "--out folder of `kerasgan train`")
    try:
        with open(metrics) as f:
            report = json.load(f)
        results = report["results"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CatalogError(f"{metrics} is not the --out file of `kerasgan evaluate` "
                           f"({type(e).__name__}: {e})") from None
    if not isinstance(results, dict) or not results:
        raise CatalogError(f"{metrics} holds no results: run `kerasgan evaluate RUN --metrics ... "
                           f"--out {metrics}` first")
    try:
        with open(record_path) as f:
            record = json.load(f)
    except ValueError as e:
        raise CatalogError(f"{record_path} is not valid JSON ({e})") from None
    family = record["family"]
    spec = models.get_class(family).spec
    text = spec.kind == TOKEN_SEQUENCE
    if text != (all(isinstance(v, (int, float)) for v in results.values())
                and "baselines" not in report):
        raise CatalogError(f"{metrics} does not score a {family} run: evaluate the run with "
                           + ("--metrics bleu,self_bleu (or nll_oracle,nll_test)" if text
                              else "image metrics (fd10k_..., fid5k)"))
    zoo_dir = os.path.abspath(zoo_dir)
    root = os.path.dirname(zoo_dir)  # what the recipes' paths are relative to
    catalog_path = catalog_path or catalog_for(zoo_dir)
    paper = paper or "; ".join(spec.references) or family

    gan = load_packable(run)
    files = pack(gan, name, zoo_dir)
    if text:
        samples = gan.generate(TEXT_SAMPLES, seed=0, temperature=1.0)

        def write(tmp):
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("\n".join(samples.texts) + "\n")

        atomic_write(os.path.join(zoo_dir, name, "samples.txt"), write)
        entry_metrics = _text_metrics(report, root)
        steps = int(gan.steps_done.numpy())
    else:
        if grid is not None:
            import shutil

            atomic_write(os.path.join(zoo_dir, name, "samples.png"),
                         lambda tmp: shutil.copyfile(grid[0], tmp), suffix=".png")
        else:
            images, nrow = gan.sample_grid(64, seed=0)  # one row per class when conditional
            save_grid(images, os.path.join(zoo_dir, name, "samples.png"), nrow=nrow, scale=2)
        entry_metrics = _image_metrics(report, root)
        optimizer = getattr(gan, "g_optimizer", None)
        if optimizer is not None and optimizer.built:
            steps = gan.training_steps()
        else:
            steps = record["epochs"] * (_source_size(record["data"]["source"],
                                                     record["data"]["split"])
                                        // record["batch_size"])
    source = record["data"]["source"]
    dataset_name, licence = _lookup(DATASETS, source, (source, "see the dataset"))
    train_command = " ".join(a for a in record["command"].split() if a != "--quiet")
    run_ref = _option(train_command, "--out") or os.path.relpath(run, root)
    recipe = "\n".join([
        *_lookup(PREPARE, source, []),
        train_command,
        evaluate_command or _evaluate_command(report, results, run_ref, text, source, root),
        f"{command} {run_ref} --name {name} --metrics {run_ref}/metrics.json "
        f"--train-seconds SECONDS --paper \"{paper}\"",
    ])
    config = {k: v for k, v in record["model"].items()
              if k != "seed" and not (k == "vocabulary" and "vocabulary" in files)}
    entry = {
        "name": name,
        "family": family,
        "description": description,
        "config": config,
        "dataset": {"name": dataset_name, "source": source, "split": record["data"]["split"],
                    "licence": licence},
        "files": files,
        "metrics": entry_metrics,
        "training": {"epochs": record["epochs"], "batch_size": record["batch_size"],
                     "steps": steps, "time_s": round(train_seconds), "hardware": hardware()},
        "licence": "Apache-2.0 (weights); the training data's licence applies to what they learned",
        "paper": paper,
        "recipe": recipe,
        "card": f"zoo/{name}/README.md",
        "url": url,
    }
    if text:
        entry["sequence"] = {"seq_len": int(gan.seq_len), "vocab_size": int(gan.vocab_size)}
    else:
        entry["resolution"] = list(record["model"]["image_shape"])
    if os.path.exists(catalog_path):
        with open(catalog_path) as f:
            catalog = json.load(f)
    else:
        catalog = {"format": CATALOG_FORMAT, "entries": {}}
    catalog["entries"][name] = entry
    validate_catalog(catalog, families=set(models.names()))
    card = text_card(entry, samples.texts) if text else \
        image_card(entry, None if grid is None else grid[1])

    _write_card_and_catalog(card, os.path.join(zoo_dir, name, "README.md"), catalog,
                            catalog_path)
    return entry


def _write_card_and_catalog(card, card_path, catalog, catalog_path):
    """Writes an entry's card, then the catalog, each atomically."""
    from kerasgan.images import atomic_write

    def write_card(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(card)

    atomic_write(card_path, write_card)

    def write_catalog(tmp):
        with open(tmp, "w") as f:
            json.dump(catalog, f, indent=2, sort_keys=True)
            f.write("\n")

    atomic_write(catalog_path, write_catalog)


def _source_size(source, split):
    from kerasgan import data

    return len(data.open_source(source, split=split).images)


def _file_rows(entry):
    def size(n):
        return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"

    return "\n".join(
        f"| {role} | `{spec['path']}` ({size(spec['size'])}, sha256 `{spec['sha256']}`) |"
        for role, spec in entry["files"].items())


def text_card(entry, sentences):
    """The model card of a token-sequence entry (its README.md)."""
    rows = "\n".join(
        f"| `{m['metric']}` | {m['value']:.4g} | {m['num_gen']:,} | "
        f"{format(m['num_real'], ',') if m['num_real'] else '—'} | {m['reference']} | "
        f"{m.get('temperature', 1.0):g} |"
        for m in entry["metrics"])
    orders = {}
    for m in entry["metrics"]:
        base, n = re.fullmatch(r"(.*?)(\d*)", m["metric"]).groups()
        orders.setdefault(base, []).append(n)
    lines = []
    for base, ns in orders.items():
        label = f"`{base}{ns[0]}`" if len(ns) == 1 else f"`{base}{ns[0]}` … `{base}{ns[-1]}`"
        lines.append(f"- {label}: {TEXT_PROTOCOLS.get(base, base).format(n='n')}")
    protocols = "\n".join(lines)
    t, seq = entry["training"], entry["sequence"]
    shown = "\n".join(sentences)
    return f"""# {entry['name']}

{entry['description']}

{TEXT_SAMPLES} sentences, seed 0, temperature 1 ([samples.txt](samples.txt)):

```
{shown}
```

*`kerasgan zoo sample {entry['name']} --n {TEXT_SAMPLES} --seed 0` prints them; add
`--temperature 0.8` for more conservative sentences, `--out sentences.txt` to keep them.*

```python
gan = kerasgan.zoo.from_preset("{entry['name']}")       # vocabulary included
gan.generate(10, seed=0, temperature=0.8).texts
```

| | |
|---|---|
| family | `{entry['family']}` ({entry['paper']}) |
| config | `{json.dumps(entry['config'])}` |
| data | {entry['dataset']['name']} `{entry['dataset']['source']}`, split `{entry['dataset']['split']}` ({entry['dataset']['licence']}) |
| output | sequences of {seq['seq_len']} token ids from a {seq['vocab_size']:,}-token vocabulary, decoded up to the end token |
| training | {t['epochs']} epochs, batch {t['batch_size']}, {t['steps']:,} steps, {t['time_s'] / 60:.1f} min |
| hardware | {t['hardware']} |
| licence | {entry['licence']} |

| file | |
|---|---|
{_file_rows(entry)}

## Measured

| metric | value | generated | references | reference data | temperature |
|---|---:|---:|---:|---|---:|
{rows}

{protocols}

See `docs/text.md` for the definitions, the benchmark tables and Texygen's published
numbers.

## Reproduce

```
{entry['recipe']}
```
"""


def image_card(entry, grid_caption=None):
    """The model card of an image entry (its README.md); ``grid_caption``
    describes a ``samples.png`` that is not the generator's 64 samples."""
    rows = "\n".join(
        f"| `{m['metric']}` | {m['value']:.4g} | {m['network']} | {m['num_gen']:,} | "
        f"{format(m['num_real'], ',') if m['num_real'] else '—'} | {m['reference']} |"
        for m in entry["metrics"])
    t = entry["training"]
    classes = entry["config"].get("num_classes") or entry["config"].get("num_categories")
    grid_text = ("64 samples, seed 0" if not classes else
                 f"seed 0, one row per {'class' if entry['config'].get('num_classes') else 'value of c_cat'}"
                 f" ({64 // classes} samples each, the same latents in every row)")
    shown = (f"*{grid_text}: `kerasgan zoo sample {entry['name']} --n 64 --seed 0 "
             "--out grid.png`.*") if grid_caption is None else f"*{grid_caption}*"
    grid_text = grid_text if grid_caption is None else grid_caption.split(":")[0]
    return f"""# {entry['name']}

{entry['description']}

![{grid_text}](samples.png)

{shown}

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
assigns to the requested class (labels cycle over the classes); `classtv*_D` the
total-variation distance between the classes that classifier sees in the generated
images and in the real ones (0: every class as often as in the data; mode
collapse raises it) and `confident*_D` the share of generated images it classifies
with a top probability above 0.7 (real test digits: 96.6%); `fid*` is FID with
the standard 2015-12-05 Inception network. See `docs/metrics.md` for the protocols
(a translation entry's `conversion*`, `fd*` and `diversity*`: its family's page in `docs/families/`).

## Reproduce

```
{entry['recipe']}
```
"""


def add_metrics(name, report, catalog_path=None, zoo_dir="zoo"):
    """Adds the image metrics of ``report`` (``kerasgan evaluate``'s output
    format: ``{"results": {name: result}}``) to the existing entry ``name``:
    its catalog record (a metric of the same name is replaced), the
    ``kerasgan evaluate`` line of its recipe (the metric names joined in) and
    its card. The generator file is not touched, so its sha256 stays.

    Returns:
        The updated catalog entry.

    Raises:
        CatalogError: no such entry, a text entry, or a catalog the schema refuses
            (nothing is written then).
    """
    from kerasgan import models

    check_name(name)
    zoo_dir = os.path.abspath(zoo_dir)
    catalog_path = catalog_path or catalog_for(zoo_dir)
    with open(catalog_path) as f:
        catalog = json.load(f)
    entry = catalog["entries"].get(name)
    if entry is None:
        raise CatalogError(f"no zoo entry {name!r} in {catalog_path}")
    if "resolution" not in entry:
        raise CatalogError(f"{name} is a text entry: add its scores with build_entry")
    new = _image_metrics(report)
    names = {m["metric"] for m in new}
    entry["metrics"] = sorted([m for m in entry["metrics"] if m["metric"] not in names] + new,
                              key=lambda m: m["metric"])

    def widen(match):
        asked = sorted(set(match.group(2).split(",")) | names)
        return f"{match.group(1)}{','.join(asked)}"

    entry["recipe"] = re.sub(r"(kerasgan evaluate \S+ --metrics )(\S+)", widen, entry["recipe"],
                             count=1)
    validate_catalog(catalog, families=set(models.names()))
    card_path = os.path.join(zoo_dir, name, "README.md")
    caption = None
    if os.path.isfile(card_path):  # keep a translation entry's own grid caption
        with open(card_path, encoding="utf-8") as f:
            found = re.search(r"^\*(.+)\*$", f.read(), re.M)
        if found and "kerasgan zoo sample" not in found.group(1):
            caption = found.group(1)
    card = image_card(entry, caption)

    _write_card_and_catalog(card, card_path, catalog, catalog_path)
    return entry


#: where ``docs/zoo.md`` holds the table :func:`entries_table` writes
TABLE_MARKERS = ("<!-- entries:start -->", "<!-- entries:end -->")


def _number(value):
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def entries_table(catalog, card_prefix="../"):
    """The markdown table of every catalog entry with its measured numbers
    (``docs/zoo.md`` holds it between :data:`TABLE_MARKERS`; a test keeps it
    equal to the catalog)."""
    rows = ["| entry | family | data | output | training (2 CPU cores) | measured | card |",
            "|---|---|---|---|---|---|---|"]
    for name in sorted(catalog["entries"]):
        e = catalog["entries"][name]
        t = e["training"]
        if "resolution" in e:
            output = "×".join(map(str, e["resolution"]))
            classes = e["config"].get("num_classes")
            output += f", {classes} classes" if classes else ""
        else:
            output = f"{e['sequence']['seq_len']} tokens, {e['sequence']['vocab_size']:,}-token vocabulary"
        measured = "<br>".join(f"`{m['metric']}` {_number(m['value'])}" for m in e["metrics"])
        rows.append(f"| `{name}` | `{e['family']}` | {e['dataset']['name']} | {output} | "
                    f"{t['epochs']} epochs, batch {t['batch_size']}, {t['steps']:,} steps, "
                    f"{t['time_s'] / 60:.0f} min | {measured} | "
                    f"[{name}]({card_prefix}{e['card']}) |")
    return "\n".join(rows) + "\n"


def write_entries_table(doc_path, catalog):
    """Replaces the table between :data:`TABLE_MARKERS` in ``doc_path``."""
    from kerasgan.images import atomic_write

    with open(doc_path, encoding="utf-8") as f:
        text = f.read()
    start, end = TABLE_MARKERS
    if start not in text or end not in text:
        raise CatalogError(f"{doc_path} has no {start} ... {end} block for the entries table")
    head, rest = text.split(start, 1)
    new = head + start + "\n" + entries_table(catalog) + end + rest.split(end, 1)[1]

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(new)

    atomic_write(doc_path, write)
