"""Scores a zoo entry's shipped generator with more metrics and records them in
its catalog entry, recipe and card (the file and its sha256 stay as they are).

Usage (from the repository root):
    python zoo/add_metrics.py NAME --metrics classtv10k_mnist,confident10k_mnist \
        --data ../shared/data/mnist [--split train]
"""

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name")
    parser.add_argument("--metrics", required=True)
    parser.add_argument("--data", required=True, help="the reference data (the entry's own)")
    parser.add_argument("--split", default="train")
    args = parser.parse_args()

    import kerasgan.zoo
    from kerasgan import metrics
    from kerasgan.zoo.entry import add_metrics

    gan = kerasgan.zoo.from_preset(args.name, progress=False)
    results = metrics.evaluate(gan, args.metrics, data=args.data, split=args.split)
    entry = add_metrics(args.name, {"results": results}, zoo_dir=os.path.join(REPO, "zoo"),
                        catalog_path=os.path.join(REPO, "kerasgan", "zoo", "catalog.json"))
    print(json.dumps({m["metric"]: m["value"] for m in entry["metrics"]}, indent=1))


if __name__ == "__main__":
    main()
