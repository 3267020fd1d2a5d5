#!/usr/bin/env python3
"""Generate images from a kerasgan ONNX generator: numpy, onnxruntime and Pillow only.

::

    python export/generate.py dcgan.onnx --n 64 --seed 0 --out grid.png
    python export/generate.py cgan.onnx --n 10 --seed 0 --label 7 --out sevens.png
    python export/generate.py dcgan.onnx --info          # print the model's metadata

Bad input prints one line, ``generate.py: error: ...``, and exits with status 2.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from onnx_generator import ModelError, OnnxGenerator, write_atomic  # noqa: E402

PROG = "generate.py"


def _int(name, low, high=None):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}")
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"in [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"{name} must be {bound}, got {value}")
        return value

    return parse


def _label(text):
    return "random" if text == "random" else _int("--label", 0)(text)


def build_parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("model", help="an .onnx file written by `kerasgan export`")
    p.add_argument("--n", type=_int("--n", 1), default=64, help="number of images (64)")
    p.add_argument("--seed", type=_int("--seed", 0), default=None,
                   help="integer seed: the same images as kerasgan's generate(n, seed)")
    p.add_argument("--label", type=_label, default=None,
                   help="class of every image, or 'random' (conditional models: required)")
    p.add_argument("--nrow", type=_int("--nrow", 1), default=None, help="images per grid row")
    p.add_argument("--scale", type=_int("--scale", 1, 16), default=1,
                   help="integer upscaling of the grid (nearest)")
    p.add_argument("--out", default=None, help="PNG grid to write")
    p.add_argument("--npy", default=None, help="also save the float images (NHWC, [-1, 1])")
    p.add_argument("--threads", type=_int("--threads", 1), default=None,
                   help="ONNX Runtime intra-op threads")
    p.add_argument("--info", action="store_true", help="print the model's metadata and exit")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if not args.info and not args.out and not args.npy:
            raise ValueError("nothing to write: give --out grid.png (or --npy, or --info)")
        if args.out and not args.out.lower().endswith(".png"):
            raise ValueError(f"--out must be a .png file, got {args.out}")
        gen = OnnxGenerator(args.model, threads=args.threads)
        if args.info:
            print(json.dumps(gen.metadata, indent=2, sort_keys=True))
            return 0
        if args.label is not None and gen.num_classes is None:
            raise ValueError(f"{gen.family} is unconditional: drop --label")
        if args.label is None and gen.num_classes is not None:
            raise ValueError(f"{gen.family} is class-conditional: pass --label C "
                             f"(C in [0, {gen.num_classes})) or --label random")
        images = gen.generate(args.n, seed=args.seed, labels=args.label)
        if args.npy:
            import io

            import numpy as np

            buf = io.BytesIO()
            np.save(buf, images)
            write_atomic(args.npy, buf.getvalue())
        if args.out:
            gen.save_grid(images, args.out, nrow=args.nrow, scale=args.scale)
        print(f"{PROG}: wrote {args.n} {gen.family} images to "
              f"{', '.join(p for p in (args.out, args.npy) if p)}")
        return 0
    except (ModelError, ValueError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
