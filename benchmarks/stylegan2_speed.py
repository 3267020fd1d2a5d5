"""StyleGAN2 training throughput on this machine, per configuration.

Times ``fit`` on random 32x32 images (after one warm-up epoch that traces and
compiles the step) for a few widths, with and without path-length
regularisation and XLA, and prints a table and JSON. Used to pick the CPU
configuration of docs/families/stylegan2.md.

    python benchmarks/stylegan2_speed.py [--steps 20] [--out runs/stylegan2-speed.json]
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasgan import models  # noqa: E402

CONFIGS = [
    # (label, constructor overrides, jit_compile)
    ("w32", {"g_width": 32, "d_width": 32}, False),
    ("w64", {"g_width": 64, "d_width": 64}, False),
    ("w64 no-pl", {"g_width": 64, "d_width": 64, "pl_weight": 0.0}, False),
    ("w64 xla", {"g_width": 64, "d_width": 64}, True),
    ("w128", {"g_width": 128, "d_width": 128}, False),
    ("w64 base1024", {"g_width": 64, "d_width": 64, "channel_base": 1024}, False),
    ("w128 base2048", {"g_width": 128, "d_width": 128, "channel_base": 2048}, False),
]


def measure(overrides, jit, steps, batch, channels):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    gan = models.StyleGAN2(image_shape=(32, 32, channels), latent_dim=128, mapping_layers=8,
                           seed=0, **overrides)
    gan.compile(jit_compile=jit)
    images = np.random.RandomState(0).uniform(-1, 1, (batch * steps, 32, 32, channels))
    ds = tf.data.Dataset.from_tensor_slices(images.astype("float32")).batch(batch).repeat()
    gan.fit(ds, steps_per_epoch=16, epochs=1, verbose=0)  # trace, compile, warm up
    start = time.perf_counter()
    gan.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = (time.perf_counter() - start) / steps
    return {"params_g": gan.generator.count_params(), "params_d": gan.discriminator.count_params(),
            "s_per_step": seconds, "images_per_s": batch / seconds}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--only", help="comma-separated labels")
    parser.add_argument("--out")
    args = parser.parse_args()
    rows = []
    for label, overrides, jit in CONFIGS:
        if args.only and label not in args.only.split(","):
            continue
        row = dict(label=label, jit_compile=jit, batch=args.batch, **measure(
            overrides, jit, args.steps, args.batch, args.channels))
        rows.append(row)
        print(f"{label:12s} G {row['params_g'] / 1e6:.2f} M  D {row['params_d'] / 1e6:.2f} M  "
              f"{row['s_per_step']:.3f} s/step  {row['images_per_s']:.0f} img/s", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"rows": rows, "cpus": os.cpu_count()}, f, indent=2)


if __name__ == "__main__":
    main()
