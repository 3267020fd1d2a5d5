"""Metric speed on this CPU: feature-extraction images/sec per network, and the wall
time of whole named metrics for a 28x28 generator.

Usage:
    python benchmarks/metrics_speed.py [--metrics fd10k_mnist,fid10k] [--json out.json]

The reference statistics cache is disabled for the timing (``use_cache=False``), so
each metric's time includes its real images; the first Inception use also converts
or loads its weights (timed separately).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def images_per_second(network, images, batch_size, repeats=3):
    network(images[:batch_size], batch_size)  # trace and warm up
    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        network(images, batch_size)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return len(images) / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--metrics", default="fd10k_mnist,fid10k",
                        help="named metrics to time end to end on a DCGAN-28 generator")
    parser.add_argument("--json", help="also write the measurements here")
    args = parser.parse_args()

    import numpy as np

    import kerasgan
    from kerasgan import metrics

    rng = np.random.default_rng(0)
    rows = []
    for name, shape, count, batch in (("mnist", (28, 28, 1), 4096, 256),
                                      ("cifar10", (32, 32, 3), 4096, 256),
                                      ("inception", (28, 28, 1), 128, 32),
                                      ("inception", (32, 32, 3), 128, 32)):
        start = time.perf_counter()
        network = metrics.get_network(name)
        load_s = time.perf_counter() - start
        images = rng.integers(0, 256, (count, *shape), dtype=np.uint8)
        rate = images_per_second(network, images, batch)
        rows.append({"network": name, "input": "x".join(map(str, shape)), "batch": batch,
                     "images_per_s": rate, "load_s": load_s})

    gan = kerasgan.models.DCGAN(image_shape=(28, 28, 1), seed=0)
    source = kerasgan.data.open_source("mnist-10k")
    timings = []
    for name in [m for m in args.metrics.split(",") if m]:
        start = time.perf_counter()
        result = metrics.evaluate(gan, [name], data=source, use_cache=False)[name]
        timings.append({"metric": name, "wall_s": time.perf_counter() - start,
                        "value": result["value"], "num_gen": result["num_gen"],
                        "num_real": result.get("num_real")})

    print(f"## Feature extraction, {os.cpu_count()} CPU cores\n")
    print("| network | input | batch | images/s | first load s |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['network']} | {r['input']} | {r['batch']} | {r['images_per_s']:.0f} | {r['load_s']:.1f} |")
    print("\n## Whole metrics for an (untrained) DCGAN-28 generator vs mnist-10k\n")
    print("| metric | generated | real | wall s | value |")
    print("|---|---:|---:|---:|---:|")
    for t in timings:
        print(f"| {t['metric']} | {t['num_gen']} | {t['num_real']} | {t['wall_s']:.0f} | {t['value']:.4g} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"networks": rows, "metrics": timings}, f, indent=2)


if __name__ == "__main__":
    main()
