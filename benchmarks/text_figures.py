"""Tables and pictures of the text-GAN benchmarks (docs/text.md, docs/results.md).

Reads what ``benchmarks/text_gans.py`` (oracle) and ``kerasgan evaluate`` (Image
COCO) wrote under ``runs/text/`` and prints the markdown tables:

- ``runs/text/oracle-<family>/result.json`` and ``log.csv``: NLL-oracle and
  NLL-test per temperature, and along training;
- ``runs/text/coco-<family>-cli/scores-T<temperature>.json``: BLEU-2..5 and
  self-BLEU-2..5 (``kerasgan evaluate RUN --metrics bleu,self_bleu
  --temperature T --out ...``).

Pictures: ``docs/images/text-coco-quality-diversity.png`` (BLEU-4 against
self-BLEU-4 over temperatures), ``docs/images/text-oracle-nll.png`` (NLL-oracle
against NLL-test over temperatures) and ``docs/images/text-oracle-curves.png``
(NLL-oracle along training).

    python benchmarks/text_figures.py
"""

import csv
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RUNS = os.path.join(ROOT, "runs", "text")
IMAGES = os.path.join(ROOT, "docs", "images")
ORDER = ("mle", "seqgan", "relgan")


def _family(folder, prefix, suffix=""):
    name = os.path.basename(folder)[len(prefix):]
    return name[: -len(suffix)] if suffix and name.endswith(suffix) else name


def oracle_rows():
    rows = []
    for path in sorted(glob.glob(os.path.join(RUNS, "oracle-*", "result.json"))):
        result = json.load(open(path))
        for temperature, scores in result["scores"].items():
            rows.append({"family": result["family"], "temperature": float(temperature),
                         "nll_oracle": scores["nll_oracle"], "nll_test": scores["nll_test"],
                         "steps": result["steps"], "train_min": result["train_s"] / 60,
                         "options": result["options"]})
    return rows


def coco_rows():
    rows = []
    for path in sorted(glob.glob(os.path.join(RUNS, "coco-*-cli", "scores-T*.json"))):
        family = _family(os.path.dirname(path), "coco-", "-cli")
        temperature = float(re.search(r"scores-T([0-9.]+)\.json", path).group(1))
        result = json.load(open(path))
        rows.append({"family": family, "temperature": temperature, **result["results"],
                     "num_gen": result["num_gen"]})
    return rows


def curves():
    out = {}
    for path in sorted(glob.glob(os.path.join(RUNS, "oracle-*", "log.csv"))):
        family = _family(os.path.dirname(path), "oracle-")
        with open(path) as f:
            out[family] = [(int(r["step"]), float(r["nll_oracle"]), float(r["nll_test"]))
                           for r in csv.DictReader(f)]
    return out


def _sorted(rows):
    return sorted(rows, key=lambda r: (ORDER.index(r["family"]) if r["family"] in ORDER else 9,
                                       r["temperature"]))


def main():
    from kerasgan.metrics.text import quality_diversity_plot

    os.makedirs(IMAGES, exist_ok=True)
    rows = _sorted(oracle_rows())
    if rows:
        print("| model | temperature | NLL-oracle | NLL-test | steps | training (min, 2 cores) |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['family']} | {r['temperature']:g} | {r['nll_oracle']:.3f} | "
                  f"{r['nll_test']:.3f} | {r['steps']} | {r['train_min']:.0f} |")
        quality_diversity_plot(rows, os.path.join(IMAGES, "text-oracle-nll.png"),
                               x="nll_test", y="nll_oracle",
                               title="Synthetic oracle: NLL-oracle vs NLL-test over temperature")
    rows = _sorted(coco_rows())
    if rows:
        print()
        print("| model | temperature | BLEU-2 | BLEU-3 | BLEU-4 | BLEU-5 | self-BLEU-2 | "
              "self-BLEU-3 | self-BLEU-4 | self-BLEU-5 |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            cells = " | ".join(f"{r[k]:.3f}" for k in
                               ("bleu2", "bleu3", "bleu4", "bleu5", "self_bleu2", "self_bleu3",
                                "self_bleu4", "self_bleu5"))
            print(f"| {r['family']} | {r['temperature']:g} | {cells} |")
        quality_diversity_plot(rows, os.path.join(IMAGES, "text-coco-quality-diversity.png"),
                               x="self_bleu4", y="bleu4",
                               title="Image COCO: BLEU-4 vs self-BLEU-4 over temperature")
    logs = curves()
    if logs:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4))
        for family, points in logs.items():
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=family)
        ax.axhline(5.752, color="grey", ls=":", label="oracle entropy (floor)")
        ax.set_xlabel("training step (batch 64)")
        ax.set_ylabel("NLL-oracle (2,000 samples), lower is better")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(IMAGES, "text-oracle-curves.png"), dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
