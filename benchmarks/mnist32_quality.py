"""MNIST quality of a 32x32 run (ProGAN, StyleGAN2) with the 28x28 MNIST domain network.

``fd10k_mnist`` (see docs/metrics.md) takes 28x28x1 images and refuses other
sizes, and ProGAN and StyleGAN2 need a power-of-two size (MNIST trained with
``--resize 32``). This script resizes the generated 32x32 digits back to 28x28
with the data pipeline's own resize (``kerasgan.data.sources.resize_images``:
bilinear, antialiased, on uint8 pixels) and measures them against the 28x28
reference, so the number is comparable with the other families' MNIST rows in
docs/results.md. The resize round trip costs something by itself: the script
also measures the *floor*: 10,000 other real MNIST digits (from the training
split; ``mnist-10k`` is the test split) resized 28 -> 32 -> 28 against the same
reference, and the same digits unresized.

    python benchmarks/mnist32_quality.py runs/progan-mnist32 --data mnist-10k \
        --out runs/progan-mnist32/quality.json
    python benchmarks/mnist32_quality.py runs/stylegan2-mnist32 --truncation-psi 1,0.7 \
        --out runs/stylegan2-mnist32/quality.json

``--truncation-psi`` (StyleGAN2) measures the generator at each truncation
(one ``generated_32_to_28`` row per value).
"""

import argparse
import json
import os
import time

import numpy as np


class Resized:
    """``sample(n, seed)`` of ``images``' source resized to 28x28 (uint8)."""

    image_shape = (28, 28, 1)
    num_classes = None

    def __init__(self, draw):
        self.draw = draw

    def __call__(self, n, seed, labels=None):
        from kerasgan.data.sources import resize_images

        images = self.draw(n, seed)
        if images.dtype != np.uint8:
            images = np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
        if images.shape[1:3] != (28, 28):
            images = resize_images(images, (28, 28))
        return np.asarray(images, np.uint8)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder or .keras file of a 32x32 MNIST generator")
    parser.add_argument("--data", default="mnist-10k", help="the 28x28 reference data")
    parser.add_argument("--floor-data", default="../shared/data/mnist",
                        help="real digits for the floor, other than the reference ones")
    parser.add_argument("--floor-split", default="train",
                        help="split of --floor-data (mnist-10k is the MNIST test split)")
    parser.add_argument("--metric", default="fd10k_mnist")
    parser.add_argument("--truncation-psi",
                        help="comma-separated truncation values to measure (stylegan2)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)

    import kerasgan
    from kerasgan import metrics
    from kerasgan import run as runs
    from kerasgan.data.sources import resize_images

    gan = runs.load_run(args.run)
    results = {}
    start = time.time()
    psis = [None] if not args.truncation_psi else [
        float(v) for v in args.truncation_psi.split(",")]
    for psi in psis:
        codes = None if psi is None else {"truncation_psi": psi}
        name = "generated_32_to_28" + ("" if psi is None else f"_psi{psi:g}")
        results[name] = metrics.evaluate(
            Resized(lambda n, seed, codes=codes: gan.generate(n, seed=seed, codes=codes)),
            [args.metric], data=args.data, seed=0)[args.metric]
    test = kerasgan.data.open_source(args.floor_data, split=args.floor_split)
    real = np.asarray(test.images)
    if real.dtype != np.uint8:
        real = np.clip(np.round((real + 1.0) * 127.5), 0, 255).astype(np.uint8)
    real32 = resize_images(real, (32, 32))

    def take(array):
        """Consecutive images of one fixed permutation: no image twice (the
        metric asks for one batch at a time)."""
        order = np.random.default_rng(0).permutation(len(array))
        cursor = [0]

        def draw(n, seed):
            idx = order[np.arange(cursor[0], cursor[0] + n) % len(array)]
            cursor[0] += n
            return array[idx]
        return draw

    results["real_28_to_32_to_28"] = metrics.evaluate(
        Resized(take(real32)), [args.metric], data=args.data, seed=0)[args.metric]
    results["real_28"] = metrics.evaluate(
        Resized(take(real)), [args.metric], data=args.data, seed=0)[args.metric]
    for name, r in results.items():
        print(f"{name}: {args.metric} {r['value']:.4g}")
    print(f"{time.time() - start:.0f} s")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"run": os.path.abspath(args.run), "results": results}, f, indent=2,
                      default=str)


if __name__ == "__main__":
    main()
