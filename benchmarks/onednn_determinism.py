"""Does oneDNN change run-to-run determinism? Seeded training, repeated.

Each run is a fresh process that trains a family for ``--steps`` generator
steps from seed 0 (kerasgan's seeded data order, latents and initial weights)
and hashes every weight. Two runs per configuration: identical hashes mean the
configuration is bitwise repeatable here. Across configurations the table gives
the largest weight difference after training (oneDNN and Eigen sum in other
orders, so they are not expected to agree bitwise).

Usage:
    python benchmarks/onednn_determinism.py [--steps 30] [--families dcgan,wgan_gp]
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIGS = {
    "oneDNN (chosen), 2 threads": {"TF_NUM_INTRAOP_THREADS": "2"},
    "oneDNN (chosen), 1 thread": {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"},
    "oneDNN AVX2-only, 2 threads": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "Eigen (oneDNN off), 2 threads": {"TF_ENABLE_ONEDNN_OPTS": "0"},
}


def run_one(family, steps, out):
    import keras
    import numpy as np

    import kerasgan

    shape = (28, 28, 1)
    keras.utils.set_random_seed(0)  # the initial weights (the CLI does this with --seed)
    gan = kerasgan.models.get(family, image_shape=shape, seed=0)
    gan.compile()
    ds = kerasgan.data.open_source("mnist-10k").dataset(64, seed=0, repeat=True)
    gan.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
    weights = [np.asarray(w) for w in gan.generator.weights + gan.discriminator.weights]
    np.savez(out, *weights)
    digest = hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest()
    print(json.dumps({"sha256": digest}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--families", default="dcgan,wgan_gp")
    parser.add_argument("--work", default="runs/onednn_determinism")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one[0], args.steps, args.one[1])
        return

    import numpy as np

    os.makedirs(args.work, exist_ok=True)
    print(f"| family | configuration | run 1 == run 2 (bitwise) | max abs weight difference "
          f"vs '{next(iter(CONFIGS))}' after {args.steps} steps |")
    print("|---|---|---|---:|")
    for family in args.families.split(","):
        files = {}
        for name, env in CONFIGS.items():
            digests = []
            for rep in (1, 2):
                path = os.path.join(args.work, f"{family}-{len(files)}-{rep}.npz")
                full = {k: v for k, v in os.environ.items()
                        if not k.startswith(("TF_ENABLE_ONEDNN", "ONEDNN_", "TF_NUM_"))}
                full.update(env, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
                proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--one",
                                       family, path, "--steps", str(args.steps)],
                                      capture_output=True, text=True, env=full)
                if proc.returncode:
                    sys.stderr.write(proc.stderr[-2000:])
                    raise SystemExit(f"{family} {name} failed")
                digests.append(json.loads(proc.stdout.strip().splitlines()[-1])["sha256"])
            files[name] = path  # run 2's weights
            reference = np.load(files[next(iter(CONFIGS))])
            mine = np.load(path)
            diff = max(float(np.max(np.abs(reference[k] - mine[k]))) for k in reference.files)
            print(f"| {family} | {name} | {'yes' if digests[0] == digests[1] else 'NO'} | "
                  f"{diff:.3g} |", flush=True)


if __name__ == "__main__":
    main()
