"""The picture of what the discriminator sees: the same real CIFAR-10 images
(top row) under each DiffAugment policy and under ADA at three values of p.

    python benchmarks/augmentation_examples.py --data runs/aug/data/cifar10-10pct.npz \
        --out docs/images/augmentation_examples.png
"""

import argparse

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a .npz with uint8 images under x")
    parser.add_argument("--out", required=True)
    parser.add_argument("--n", type=int, default=10, help="images per row")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import keras

    from kerasgan import augment
    from kerasgan.images import save_grid

    x = np.load(args.data)["x"]
    take = np.random.default_rng(args.seed).choice(len(x), args.n, replace=False)
    images = x[np.sort(take)].astype("float32") / 127.5 - 1.0
    rows = [("real", images)]
    for spec in ("diffaugment:color", "diffaugment:translation", "diffaugment:cutout",
                 "diffaugment", "ada:p=0.2", "ada:p=0.5", "ada:p=1"):
        out = augment.parse(spec)(images, keras.random.SeedGenerator(args.seed))
        rows.append((spec, np.clip(keras.ops.convert_to_numpy(out), -1, 1)))
    save_grid(np.concatenate([r for _, r in rows]), args.out, nrow=args.n, scale=2)
    print("rows:", ", ".join(name for name, _ in rows))


if __name__ == "__main__":
    main()
