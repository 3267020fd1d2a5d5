"""CPU training throughput that tells the truth: each knob alone, kerasgan's
chosen configuration, the TF-tutorial loop and PyTorch eager on the same
networks, at 1 and 2 threads, as a share of the machine's float32 GEMM ceiling.

Every measurement runs in its own subprocess (oneDNN and the thread counts are
fixed when TensorFlow starts), in interleaved rounds; the table gives the median
over rounds. Two times are kept apart:

- **steps**: first timed batch begin to last batch end (``warmup`` batches are
  run first, in the same call, and not timed): the training speed;
- **end of call**: how long the ``fit`` call takes to return after its last
  step ends: a pause there (the tf.data autotune stall kerasgan now avoids)
  costs users time but is not training speed.

Images/s counts real images per generator step (WGAN-GP uses its batch for
its 5 critic steps). Configurations, per workload and thread count:

- ``default``  kerasgan before it chose anything: TensorFlow's defaults
               (``KERASGAN_CPU_CONFIG=off``; oneDNN as TensorFlow decides)
- ``chosen``   kerasgan's choice for this CPU (``kerasgan/cpu.py``)
- ``onednn-off`` ``TF_ENABLE_ONEDNN_OPTS=0``: TensorFlow's Eigen kernels, what an
               AVX2-only CPU (no AVX512_VNNI/BF16/AMX) gets by default
- ``onednn-avx2`` oneDNN on, limited to AVX2 instructions
               (``ONEDNN_MAX_CPU_ISA=AVX2``): kerasgan's choice on such a CPU
- ``xla`` / ``onednn-off+xla``: ``jit_compile=True``
- ``bf16``     ``mixed_bfloat16``
- ``no-bf16-isa``, ``no-bf16-isa+bf16`` (only with ``--processes
               default,no-bf16-isa``): oneDNN limited to AVX-512 without its
               bfloat16 instructions (``ONEDNN_MAX_CPU_ISA=AVX512_CORE``), float32
               and ``mixed_bfloat16``: bfloat16 on a CPU that lacks it
- ``tutorial`` the TensorFlow DCGAN tutorial's loop (``@tf.function`` step, one
               ``GradientTape`` per network) on the same networks, chosen config
- ``torch``    PyTorch eager on twin networks (``benchmarks/torch_twins.py``;
               trainable parameter counts checked equal)

The GEMM ceiling is the best float32 2048x2048 matmul rate of TensorFlow and
PyTorch at each thread count; a configuration's share is its training FLOP
rate (FLOPs per image counted from the convolution and dense layers, see
``_step_flops``, times images/s) over that ceiling.

Usage:
    python benchmarks/train_throughput.py [--rounds 3] [--seconds 5] [--threads 1,2]
        [--workloads dcgan-28,wgan_gp-28,sngan-32] [--json out.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

WORKLOADS = {  # name: (family, image shape, batch size, model options)
    "dcgan-28": ("dcgan", (28, 28, 1), 64, {}),
    "wgan_gp-28": ("wgan_gp", (28, 28, 1), 64, {}),
    # SNGAN's ResNet networks at a quarter of their default widths (256 / 128
    # channels: 25 GFLOP per image per step, 11 img/s here) to keep rounds short
    "sngan-32": ("sngan", (32, 32, 3), 64, {"g_width": 64, "d_width": 64}),
}
# process environment -> the modes measured in it
PROCESSES = {
    "default": ({"KERASGAN_CPU_CONFIG": "off"}, ["default", "xla", "bf16"]),
    "chosen": ({}, ["chosen", "tutorial"]),
    "onednn-off": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, ["onednn-off", "onednn-off+xla"]),
    "onednn-avx2": ({"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"}, ["onednn-avx2"]),
    "torch": ({}, ["torch"]),
    # not run unless asked (--processes default,no-bf16-isa): bfloat16 where the
    # CPU's bfloat16 instructions are hidden from oneDNN (emulated bfloat16)
    "no-bf16-isa": ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, ["no-bf16-isa", "no-bf16-isa+bf16"]),
}
DEFAULT_PROCESSES = ("default", "chosen", "onednn-off", "onednn-avx2", "torch")
ORDER = ["default", "chosen", "onednn-off", "onednn-avx2", "xla", "onednn-off+xla", "bf16",
         "tutorial", "torch", "no-bf16-isa", "no-bf16-isa+bf16"]
CLEARED = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "KERASGAN_CPU_CONFIG",
           "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def _steps_for(seconds, rate_guess, batch):
    return max(8, int(seconds * rate_guess / batch))


# ------------------------------------------------------------ in the subprocess
def _images(shape, n=2048):
    import numpy as np

    return np.random.default_rng(0).uniform(0, 255, (n, *shape)).astype("uint8")


def _time_fit(gan, dataset, warmup, steps):
    import keras
    import numpy as np

    marks = {}

    class Marks(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == warmup:
                marks["first"] = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch == warmup + steps - 1:
                [float(np.asarray(v)) for v in (logs or {}).values()]  # the step is done
                marks["last"] = time.perf_counter()

    gan.fit(dataset, epochs=1, steps_per_epoch=warmup + steps, verbose=0, callbacks=[Marks()])
    end = time.perf_counter()
    return marks["last"] - marks["first"], end - marks["last"]


def _tutorial_step(gan):
    """The TF DCGAN tutorial's way: one @tf.function, a tape per network."""
    import tensorflow as tf

    import kerasgan

    g, d = gan.generator, gan.discriminator
    g_opt, d_opt = gan.default_optimizers()
    g_loss_fn, d_loss_fn = kerasgan.losses.get_pair(gan.default_loss)
    d_steps, latent_dim = gan.d_steps, gan.latent_dim
    gp_weight = getattr(gan, "gp_weight", 0.0)

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

    return train_step


def _forward_flops(model):
    """FLOPs of one forward pass of one example: 2 x the multiply-adds of
    every convolution, transposed convolution and dense layer."""
    import numpy as np

    total = 0
    for layer in model._flatten_layers(include_self=False):
        kernel = getattr(layer, "kernel", None)
        if kernel is None or not hasattr(layer, "output"):
            continue
        k = tuple(kernel.shape)
        try:
            in_shape, out_shape = tuple(layer.input.shape[1:]), tuple(layer.output.shape[1:])
        except (AttributeError, ValueError):
            continue
        if len(k) == 4 and "Transpose" in type(layer).__name__:  # (kh, kw, out, in)
            total += 2 * int(np.prod(in_shape[:-1])) * k[0] * k[1] * k[2] * k[3]
        elif len(k) == 4:  # (kh, kw, in, out)
            total += 2 * int(np.prod(out_shape[:-1])) * k[0] * k[1] * k[2] * k[3]
        elif len(k) == 2:
            total += 2 * int(np.prod(in_shape[:-1] or (1,))) * k[0] * k[1]
    return total


def _step_flops(workload):
    """Training FLOPs per real image of one generator step with its d_steps,
    counted from the layers (backward = 2x forward): each discriminator step
    runs G forward and D forward + backward on real and fake (G + 6D), the
    gradient penalty adds D forward, its input gradient and the double
    backward (6D), and the generator step runs G and D forward and backward,
    D's input gradient only (3G + 2D)."""
    import kerasgan

    family, shape, batch, options = WORKLOADS[workload]
    gan = kerasgan.models.get(family, image_shape=shape, seed=0, **options)
    g, d = _forward_flops(gan.generator), _forward_flops(gan.discriminator)
    gp = 1 if getattr(gan, "gp_weight", 0.0) else 0
    return gan.d_steps * (g + 6 * d + gp * 6 * d) + 3 * g + 2 * d


def run_tf(workload, modes, seconds, warmup):
    import keras
    import tensorflow as tf

    import kerasgan

    family, shape, batch, options = WORKLOADS[workload]
    source = kerasgan.data.ImageSource(_images(shape))
    out = {}
    for mode in modes:
        keras.utils.set_random_seed(0)
        policy = "mixed_bfloat16" if "bf16" in mode else "float32"
        with kerasgan.precision.policy_scope(policy):
            gan = kerasgan.models.get(family, image_shape=shape, seed=0, **options)
            if mode == "tutorial":
                step = _tutorial_step(gan)
            elif "xla" in mode:
                gan.compile(jit_compile=True)
            else:
                gan.compile()  # the configuration's own jit_compile choice
        if mode == "tutorial":
            it = iter(source.dataset(batch, seed=0, repeat=True))
            for _ in range(warmup):
                step(next(it))
            t = time.perf_counter()
            n = 0
            while True:  # calibrate: about `seconds` of steps
                float(step(next(it))[0])
                n += 1
                if time.perf_counter() - t > seconds / 3:
                    break
            steps = max(8, int(3 * n))
            t = time.perf_counter()
            for _ in range(steps):
                result = step(next(it))
            float(result[0])
            steps_s, tail_s = time.perf_counter() - t, 0.0
        else:
            ds = source.dataset(batch, seed=0, repeat=True)
            probe, _ = _time_fit(gan, ds, warmup, 4)  # compile + a rate guess
            steps = _steps_for(seconds, 4 * batch / probe, batch)
            steps_s, tail_s = _time_fit(gan, ds, 2, steps)
        out[mode] = {"images_per_sec": steps * batch / steps_s, "steps": steps,
                     "steps_s": steps_s, "tail_s": tail_s,
                     "jit_compile": bool(getattr(gan, "jit_compile", False))
                     if mode != "tutorial" else False}
    from kerasgan import cpu

    out["_cpu"] = cpu.record()
    out["_tf_threads"] = [tf.config.threading.get_intra_op_parallelism_threads(),
                          tf.config.threading.get_inter_op_parallelism_threads()]
    return out


def run_torch(workload, threads, seconds, warmup):
    import torch

    import torch_twins

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)
    family, shape, batch, options = WORKLOADS[workload]
    torch.manual_seed(0)
    step, batch_shape = torch_twins.build(family, seed=0, image_shape=shape, **options)
    real = torch.rand(batch_shape(batch)) * 2 - 1
    for _ in range(warmup):
        step(real)
    t = time.perf_counter()
    n = 0
    while time.perf_counter() - t < seconds / 3:
        step(real)
        n += 1
    steps = max(8, 3 * n)
    t = time.perf_counter()
    for _ in range(steps):
        step(real)
    elapsed = time.perf_counter() - t
    return {"torch": {"images_per_sec": steps * batch / elapsed, "steps": steps,
                      "steps_s": elapsed, "tail_s": 0.0}}


def run_gemm(threads, n=2048, reps=10):
    """Best float32 n x n matmul GFLOP/s of TensorFlow (chosen config) and PyTorch."""
    import tensorflow as tf
    import torch

    torch.set_num_threads(threads)
    flops = 2 * n ** 3
    best = {}
    a = tf.random.normal((n, n))
    tf.linalg.matmul(a, a).numpy()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        tf.linalg.matmul(a, a).numpy()
        times.append(time.perf_counter() - t)
    best["tensorflow"] = flops / min(times) / 1e9
    x = torch.randn(n, n)
    torch.mm(x, x)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(x, x)
        times.append(time.perf_counter() - t)
    best["torch"] = flops / min(times) / 1e9
    return best


# ------------------------------------------------------------------ the driver
def _sub(args, env):
    full = {k: v for k, v in os.environ.items() if k not in CLEARED}
    full.update(env, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), *args],
                          capture_output=True, text=True, env=full)
    if proc.returncode:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(args)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cpu_line():
    from kerasgan import cpu  # noqa: F401  (no TensorFlow at this point? it imports it)

    info = cpu.cpu_info()
    named = [f for f in cpu.NAMED_FEATURES if f in info.features]
    return f"{info.model} ({info.machine}, {info.cpus} CPUs; {' '.join(named)})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--processes", default=",".join(DEFAULT_PROCESSES),
                        help="which process configurations to run")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--one", nargs=4, metavar=("KIND", "WORKLOAD", "THREADS", "MODES"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        kind, workload, threads, modes = args.one
        if kind == "tf":
            result = run_tf(workload, modes.split(","), args.seconds, args.warmup)
        elif kind == "torch":
            result = run_torch(workload, int(threads), args.seconds, args.warmup)
        elif kind == "gemm":
            result = run_gemm(int(threads))
        else:
            result = {"flops": _step_flops(workload)}
        print(json.dumps(result))
        return

    threads_list = [int(t) for t in args.threads.split(",")]
    workloads = args.workloads.split(",")
    processes = args.processes.split(",")
    raw = {"rounds": [], "gemm": {}, "flops": {}}
    for t in threads_list:
        env = {"TF_NUM_INTRAOP_THREADS": str(t), "TF_NUM_INTEROP_THREADS": str(t)}
        raw["gemm"][t] = _sub(["--one", "gemm", "-", str(t), "-"], env)
        print(f"  GEMM {t} thread(s): {raw['gemm'][t]}", file=sys.stderr)
    for w in workloads:
        raw["flops"][w] = _sub(["--one", "flops", w, "0", "-"], {})["flops"]
    cpu_record = None
    for r in range(args.rounds):
        for w in workloads:
            for t in threads_list:
                thread_env = {"TF_NUM_INTRAOP_THREADS": str(t), "TF_NUM_INTEROP_THREADS": str(t)}
                for name in processes:
                    env, modes = PROCESSES[name]
                    kind = "torch" if name == "torch" else "tf"
                    result = _sub(["--one", kind, w, str(t), ",".join(modes),
                                   "--seconds", str(args.seconds), "--warmup", str(args.warmup)],
                                  dict(env, **thread_env))
                    if name == "chosen":
                        cpu_record = result.pop("_cpu", cpu_record)
                    result.pop("_cpu", None)
                    result.pop("_tf_threads", None)
                    for mode, row in result.items():
                        raw["rounds"].append(dict(row, round=r, workload=w, threads=t, mode=mode))
                        print(f"  round {r} {w:10s} {t}t {mode:15s} "
                              f"{row['images_per_sec']:7.1f} img/s (end of call "
                              f"{row['tail_s']:.2f}s after the last step)", file=sys.stderr)
    raw["cpu"] = cpu_record
    print(f"\nCPU: {_cpu_line()}")
    if cpu_record:
        print(f"kerasgan's choice: oneDNN {cpu_record['onednn']['value']} "
              f"({cpu_record['onednn']['source']}), XLA {cpu_record['xla']['value']}, "
              f"bfloat16 native {cpu_record['bfloat16']['value']}")
    print(f"{args.rounds} interleaved rounds, ~{args.seconds:g} s of timed steps each; "
          "median images/s (steps only); ratios of medians\n")
    print("| workload | threads | configuration | img/s | vs default | vs tutorial | vs torch "
          "| % of GEMM ceiling | fit's end after last step (s, max) |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for w in workloads:
        family, shape, batch, options = WORKLOADS[w]
        for t in threads_list:
            rows = [x for x in raw["rounds"] if x["workload"] == w and x["threads"] == t]
            med = {m: statistics.median(x["images_per_sec"] for x in rows if x["mode"] == m)
                   for m in ORDER if any(x["mode"] == m for x in rows)}
            ceiling = max(raw["gemm"][t].values()) * 1e9  # FLOP/s at t threads
            for m, ips in med.items():
                stall = max(x["tail_s"] for x in rows if x["mode"] == m)

                def ratio(ref):
                    return f"{ips / med[ref]:.2f}×" if ref in med and ref != m else "–"

                share = 100 * ips * raw["flops"][w] / ceiling
                print(f"| {w} | {t} | {m} | {ips:.0f} | {ratio('default')} | "
                      f"{ratio('tutorial')} | {ratio('torch')} | {share:.0f}% | {stall:.2f} |")
    print("\nGEMM ceiling (float32 2048², best of 10, GFLOP/s): " + "; ".join(
        f"{t} thread(s): TF {g['tensorflow']:.1f}, torch {g['torch']:.1f} "
        f"({max(g.values()) / t:.1f} per CPU-second)" for t, g in raw["gemm"].items()))
    print("Training FLOPs per image (counted from the layers, backward = 2x forward): "
          + ", ".join(f"{w} {raw['flops'][w] / 1e6:.0f} MFLOP" for w in workloads))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=2)


if __name__ == "__main__":
    main()
