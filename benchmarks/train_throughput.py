"""Training throughput: kerasgan's `fit` (with and without XLA) vs a plain loop.

Each configuration runs in its own subprocess, so its peak RSS is its own. The
baseline is the straightforward way, as in the TensorFlow DCGAN tutorial: the same
networks and losses, a Python loop over the dataset calling a `@tf.function` step
with one `tf.GradientTape` per network, no tuning. Images/sec counts real images
consumed per second (one batch per generator step; WGAN-GP uses that batch for
its 5 critic steps).

Usage:
    python benchmarks/train_throughput.py [--steps 60] [--json out.json]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

# Run from a source checkout without installing.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONFIGS = [
    # (label, family, batch size, mode)
    ("dcgan-28 b64", "dcgan", 64, "baseline"),
    ("dcgan-28 b64", "dcgan", 64, "fit"),
    ("dcgan-28 b64", "dcgan", 64, "fit+xla"),
    ("dcgan-28 b128", "dcgan", 128, "baseline"),
    ("dcgan-28 b128", "dcgan", 128, "fit"),
    ("dcgan-28 b128", "dcgan", 128, "fit+xla"),
    ("wgan_gp-28 b64", "wgan_gp", 64, "baseline"),
    ("wgan_gp-28 b64", "wgan_gp", 64, "fit"),
    ("wgan_gp-28 b64", "wgan_gp", 64, "fit+xla"),
]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(family, batch_size, mode, steps, warmup):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    import kerasgan

    keras.utils.set_random_seed(0)
    source = kerasgan.data.open_source("mnist-10k")
    dataset = source.dataset(batch_size, seed=0, repeat=True)
    gan = kerasgan.models.get(family, image_shape=(28, 28, 1), seed=0)

    if mode == "baseline":
        g, d = gan.generator, gan.discriminator
        g_opt, d_opt = gan.default_optimizers()
        g_loss_fn, d_loss_fn = kerasgan.losses.get_pair(gan.default_loss)
        d_steps = gan.d_steps
        gp_weight = getattr(gan, "gp_weight", 0.0)
        latent_dim = gan.latent_dim

        @tf.function
        def train_step(real):
            n = tf.shape(real)[0]
            for _ in range(d_steps):
                z = tf.random.normal((n, latent_dim))
                with tf.GradientTape() as tape:
                    fake = g(z, training=True)
                    d_loss = tf.reduce_mean(d_loss_fn(d(real, training=True), d(fake, training=True)))
                    if gp_weight:
                        eps = tf.random.uniform((n,))
                        d_loss += gp_weight * tf.reduce_mean(
                            kerasgan.penalties.gradient_penalty(d, real, fake, eps))
                grads = tape.gradient(d_loss, d.trainable_variables)
                d_opt.apply_gradients(zip(grads, d.trainable_variables))
            z = tf.random.normal((n, latent_dim))
            with tf.GradientTape() as tape:
                g_loss = tf.reduce_mean(g_loss_fn(d(g(z, training=True), training=True)))
            grads = tape.gradient(g_loss, g.trainable_variables)
            g_opt.apply_gradients(zip(grads, g.trainable_variables))
            return g_loss, d_loss

        iterator = iter(dataset)
        for _ in range(warmup):
            train_step(next(iterator))
        start = time.perf_counter()
        for _ in range(steps):
            out = train_step(next(iterator))
        float(out[0])  # wait for the last step
        elapsed = time.perf_counter() - start
    else:
        gan.compile(jit_compile=(mode == "fit+xla"))
        gan.fit(dataset, epochs=1, steps_per_epoch=warmup, verbose=0)
        start = time.perf_counter()
        gan.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
        elapsed = time.perf_counter() - start
    return {
        "images_per_sec": steps * batch_size / elapsed,
        "sec_per_step": elapsed / steps,
        "peak_rss_mb": peak_rss_mb(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--one", nargs=3, metavar=("FAMILY", "BATCH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        family, batch, mode = args.one
        print(json.dumps(run_one(family, int(batch), mode, args.steps, args.warmup)))
        return

    results = []
    for label, family, batch, mode in CONFIGS:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", family, str(batch), mode,
             "--steps", str(args.steps), "--warmup", str(args.warmup)],
            capture_output=True, text=True,
        )
        if proc.returncode:
            sys.stderr.write(proc.stderr[-3000:])
            raise SystemExit(f"{label} {mode} failed")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row.update(label=label, family=family, batch_size=batch, mode=mode)
        results.append(row)
        print(f"  measured {label:15s} {mode:9s} {row['images_per_sec']:8.0f} img/s", file=sys.stderr)

    base = {r["label"]: r for r in results if r["mode"] == "baseline"}
    print(f"\nTraining throughput, {args.steps} steps after {args.warmup} warm-up, "
          f"{os.cpu_count()} CPU cores\n")
    header = f"| {'config':15s} | {'mode':9s} | {'img/s':>8s} | {'ms/step':>8s} | {'peak RSS MB':>11s} | {'vs baseline':>11s} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in results:
        ratio = r["images_per_sec"] / base[r["label"]]["images_per_sec"]
        print(f"| {r['label']:15s} | {r['mode']:9s} | {r['images_per_sec']:8.0f} | "
              f"{1000 * r['sec_per_step']:8.1f} | {r['peak_rss_mb']:11.0f} | {ratio:10.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
