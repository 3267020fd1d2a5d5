"""Train-step time of DCGAN in float32, mixed_bfloat16 and mixed_float16, each
with and without XLA, measured side by side in one process.

DCGAN at MNIST size (28x28x1), batch 64, default widths (``width=64``,
``latent_dim=100``), on random images held in memory (the step does not depend
on the pixels). All six configurations are built and warmed up first (the
warm-up traces the step and, with XLA, compiles it), then timed in interleaved
rounds (each round times every configuration once, in turn), so a change in
machine load hits all of them alike. The table gives the best (least disturbed)
and the median time per step over the rounds, and the speed relative to float32
without XLA from the best times: on a shared machine the median moves with the
neighbours' load (steps of this small model jump between ~70 and ~127 ms here),
the best time much less. A configuration slower
than 1 s per step in the warm-up (mixed_float16 without XLA on a CPU) is timed
one step per round.

With ``--ops``, first times the step's heavy TensorFlow ops alone in each
dtype, at the shapes of DCGAN's second discriminator convolution: that is where
mixed_float16 without XLA loses on a CPU (``Conv2DBackpropFilter``, the
convolution's weight gradient, has no fast float16 CPU kernel).

Usage:
    python benchmarks/precision_speed.py [--steps 10] [--rounds 7] [--ops] [--json out.json]
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Run from a source checkout without installing.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
BATCH = 64


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return sorted(flags & {"amx_bf16", "amx_fp16", "avx512_bf16", "avx512_fp16"})
    except OSError:
        pass
    return []


def op_times(repeats=2):
    """ms per call of the convolution, its two gradients and a matmul, per dtype."""
    import tensorflow as tf

    def bench(fn, *args):
        fn(*args)  # trace and warm up
        start = time.perf_counter()
        for _ in range(repeats):
            out = fn(*args)
        out.numpy()
        return 1000 * (time.perf_counter() - start) / repeats

    rows = []
    for dtype in (tf.float32, tf.bfloat16, tf.float16):
        x = tf.cast(tf.random.normal((BATCH, 14, 14, 64)), dtype)
        k = tf.cast(tf.random.normal((4, 4, 64, 128)), dtype)
        y = tf.nn.conv2d(x, k, 2, "SAME")
        a = tf.cast(tf.random.normal((BATCH, 100)), dtype)
        w = tf.cast(tf.random.normal((100, 7 * 7 * 128)), dtype)
        strides = [1, 2, 2, 1]
        rows.append((dtype.name, {
            "Conv2D": bench(tf.function(lambda x, k: tf.nn.conv2d(x, k, 2, "SAME")), x, k),
            "Conv2DBackpropInput": bench(tf.function(
                lambda y, k: tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=tf.shape(x), filter=k, out_backprop=y, strides=strides,
                    padding="SAME")), y, k),
            "Conv2DBackpropFilter": bench(tf.function(
                lambda x, y: tf.raw_ops.Conv2DBackpropFilter(
                    input=x, filter_sizes=tf.shape(k), out_backprop=y, strides=strides,
                    padding="SAME")), x, y),
            "MatMul": bench(tf.function(lambda a, w: tf.matmul(a, w)), a, w),
        }))
    return rows


def build(policy, jit):
    import keras

    import kerasgan
    from kerasgan import precision

    keras.utils.set_random_seed(0)
    with precision.policy_scope(policy):
        gan = kerasgan.models.DCGAN(image_shape=(28, 28, 1), seed=0)
        gan.compile(jit_compile=jit)
    return gan


def time_steps(gan, dataset, steps):
    start = time.perf_counter()
    gan.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="steps per timing")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--ops", action="store_true",
                        help="also time single ops per dtype (float16's weight gradient "
                             "takes several seconds)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    ops = None
    if args.ops:
        ops = op_times()
        names = list(ops[0][1])
        print(f"\nSingle ops, ms per call (x {BATCH}x14x14x64, kernel 4x4x64x128, stride 2; "
              f"matmul {BATCH}x100 @ 100x6272)\n")
        print("| dtype | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for dtype, row in ops:
            print(f"| {dtype} | " + " | ".join(f"{row[n]:.1f}" for n in names) + " |")

    images = np.random.default_rng(0).uniform(-1, 1, (BATCH * 8, 28, 28, 1)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(BATCH, drop_remainder=True)
    dataset = dataset.cache().repeat().prefetch(2)

    configs = [(policy, jit) for policy in POLICIES for jit in (False, True)]
    models, steps = {}, {}
    for policy, jit in configs:
        start = time.perf_counter()
        gan = build(policy, jit)
        gan.fit(dataset, epochs=1, steps_per_epoch=args.warmup, verbose=0)
        models[policy, jit] = gan
        one = time_steps(gan, dataset, 1)
        steps[policy, jit] = 1 if one > 1.0 else args.steps
        print(f"  built and warmed up {policy:15s} xla={jit!s:5s} in "
              f"{time.perf_counter() - start:5.1f} s ({1000 * one:.0f} ms/step)", file=sys.stderr)

    times = {config: [] for config in configs}
    for r in range(args.rounds):
        for config in configs:
            times[config].append(time_steps(models[config], dataset, steps[config]))
        print(f"  round {r + 1}/{args.rounds} done", file=sys.stderr)

    base = min(times["float32", False])
    results = []
    for policy, jit in configs:
        gan = models[policy, jit]
        best, median = min(times[policy, jit]), statistics.median(times[policy, jit])
        results.append({
            "policy": policy,
            "xla": jit,
            "best_ms_per_step": 1000 * best,
            "median_ms_per_step": 1000 * median,
            "images_per_sec": BATCH / best,
            "vs_float32": base / best,
            "loss_scaled": isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer),
            "steps_per_round": steps[policy, jit],
            "all_ms_per_step": [1000 * t for t in times[policy, jit]],
        })

    print(f"\nDCGAN 28x28x1, batch {BATCH}, width 64, latent 100: train-step time over "
          f"{args.rounds} interleaved rounds of {args.steps} steps; {cpu_name()}, "
          f"{os.cpu_count()} cores ({', '.join(cpu_flags()) or 'no AMX/AVX-512 16-bit flags'}); "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}\n")
    print("| policy | XLA | loss scaling | best ms / step | median ms / step | images / s "
          "| speed vs float32, no XLA |")
    print("|---|---|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['policy']} | {'yes' if r['xla'] else 'no'} | "
              f"{'yes' if r['loss_scaled'] else 'no'} | {r['best_ms_per_step']:.1f} | "
              f"{r['median_ms_per_step']:.1f} | {r['images_per_sec']:.0f} | "
              f"{r['vs_float32']:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch_size": BATCH, "steps": args.steps, "rounds": args.rounds,
                       "cpu": cpu_name(), "cores": os.cpu_count(), "results": results,
                       "ops_ms": dict(ops) if ops else None}, f, indent=2)


if __name__ == "__main__":
    main()
