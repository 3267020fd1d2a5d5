"""Turns a trained run into a zoo entry: generator file (and a text entry's
vocabulary), sample grid (or samples.txt for a text entry), model card, and the
entry in kerasgan/zoo/catalog.json. The last step of every entry's recipe.

Usage (from the repository root):
    python zoo/build_entry.py RUN_DIR --name NAME --metrics RUN_DIR/metrics.json \
        --train-seconds S [--paper "..."] [--description "..."]

The same as `kerasgan zoo pack RUN_DIR --name NAME --metrics ... --train-seconds S`
run from the repository root; the code is kerasgan.zoo.entry.build_entry.
"""

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CATALOG = os.path.join(REPO, "kerasgan", "zoo", "catalog.json")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run")
    parser.add_argument("--name", required=True)
    parser.add_argument("--metrics", required=True, help="metrics.json from `kerasgan evaluate`")
    parser.add_argument("--train-seconds", type=float, required=True)
    parser.add_argument("--paper", default=None, help="default: the family's references")
    parser.add_argument("--description", default="")
    parser.add_argument("--url", default=None, help="published base URL of the files")
    parser.add_argument("--grid", default=None, help="a PNG to ship as samples.png (a "
                        "translation entry's grid of test inputs) instead of sampling")
    parser.add_argument("--grid-caption", default=None, help="what --grid shows")
    parser.add_argument("--evaluate-command", default=None, help="the recipe's scoring line, "
                        "when the metrics file is not `kerasgan evaluate`'s")
    args = parser.parse_args()

    from kerasgan.zoo.entry import build_entry

    entry = build_entry(args.run, args.name, args.metrics, args.train_seconds, paper=args.paper,
                        description=args.description, url=args.url,
                        zoo_dir=os.path.join(REPO, "zoo"), catalog_path=CATALOG,
                        grid=(args.grid, args.grid_caption) if args.grid else None,
                        evaluate_command=args.evaluate_command)
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
