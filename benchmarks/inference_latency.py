"""Generator inference: ONNX Runtime vs Keras ``predict_on_batch`` vs the SavedModel signature.

For every registered noise -> image family that builds at 28x28x1 (its default
configuration, untrained weights: speed does not depend on their values; the
others are listed as skipped, with why) plus DCGAN at 64x64x3, the
generator is exported once, then each backend runs in its own subprocess, so
its peak RSS is its own (the ONNX Runtime one imports no TensorFlow, as on a
deployment machine). Per batch size (1, 16, 128): median and p90 latency of one
call and throughput (images/s at the median). All in one run, with ratios.

A second table tunes ONNX Runtime on DCGAN-28: graph optimisation level, intra-op
threads and opset.

Usage:
    python benchmarks/inference_latency.py [--seconds 2] [--json out.json] [--no-tune]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a source checkout without installing

BATCHES = (1, 16, 128)
BACKENDS = ("onnxruntime", "keras", "saved_model")


def peak_rss_mb():
    """Peak resident memory of this process. VmHWM, because Linux carries
    ru_maxrss over from a parent that had already imported TensorFlow."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_calls(fn, seconds, min_calls=10, max_calls=2000):
    fn()
    fn()  # warm-up (graph building, allocator)
    times = []
    start = time.perf_counter()
    while len(times) < max_calls and (len(times) < min_calls or time.perf_counter() - start < seconds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    median = times[len(times) // 2]
    p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
    return {"median_ms": 1e3 * median, "p90_ms": 1e3 * p90, "calls": len(times)}


# ------------------------------------------------------------------ workers
def latent_families():
    """``{"measured": [...], "skipped": {name: why}}``: the noise -> image
    families that build at 28x28x1 are measured; the other kinds (image ->
    image, translation, text) take inputs this benchmark does not draw, and a
    family that cannot take 28x28 (ProGAN, StyleGAN2: powers of two) says so."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import kerasgan
    from kerasgan.spec import LATENT_TO_IMAGE

    measured, skipped = [], {}
    for name in kerasgan.models.names():
        cls = kerasgan.models.get_class(name)
        if cls.spec.kind != LATENT_TO_IMAGE:
            skipped[name] = f"{cls.spec.kind} family: its generator does not take z alone"
            continue
        try:
            kerasgan.models.get(name, image_shape=(28, 28, 1), seed=0)
        except ValueError as e:
            skipped[name] = f"not at 28x28x1: {str(e).splitlines()[0][:120]}"
            continue
        measured.append(name)
    return {"measured": measured, "skipped": skipped}


def prepare(directory, configs):
    """Exports each config's generator (ONNX at several opsets, SavedModel, .keras)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    import kerasgan

    for label, family, overrides in configs:
        keras.utils.set_random_seed(0)
        gan = kerasgan.models.get(family, seed=0, **overrides)
        base = os.path.join(directory, label)
        kerasgan.export.export_onnx(gan, base + ".onnx")
        if label == configs[0][0]:
            kerasgan.export.export_onnx(gan, base + "-opset13.onnx", opset=13)
        kerasgan.export.export_saved_model(gan, base + "_savedmodel")
        gan.sampling_generator.save(base + ".keras")


def _draw(specs, batch, rng):
    """One batch for every generator input: ``specs`` is ``[(name, shape without
    the batch, floating)]``; float inputs are N(0, 1), integer ones (class labels,
    categorical codes) zeros: speed does not depend on their values."""
    import numpy as np

    return {name: (rng.standard_normal((batch, *shape)).astype("float32") if floating
                   else np.zeros((batch, *shape), "int32"))
            for name, shape, floating in specs}


def run_one(directory, label, backend, seconds, threads=None, optimization="all", onnx_file=None):
    import numpy as np

    base = os.path.join(directory, label)
    if backend == "onnxruntime":
        sys.path.insert(0, os.path.join(REPO, "export"))
        from onnx_generator import OnnxGenerator

        gen = OnnxGenerator(onnx_file or base + ".onnx", threads=threads, optimization=optimization)
        specs = [(i.name, [int(d) for d in i.shape[1:]], i.type == "tensor(float)")
                 for i in gen.session.get_inputs()]

        def call(inputs):
            return gen.run(inputs)
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras
        import tensorflow as tf

        import kerasgan  # noqa: F401 (registers the layers)

        if backend == "keras":
            model = keras.saving.load_model(base + ".keras")
            specs = [(t.name, [int(d) for d in t.shape[1:]], "float" in str(t.dtype))
                     for t in model.inputs]

            def call(inputs):
                return model.predict_on_batch([inputs[name] for name, _, _ in specs])
        else:
            loaded = tf.saved_model.load(base + "_savedmodel")
            signature = loaded.signatures["serving_default"]
            specs = [(name, [int(d) for d in spec.shape[1:]], spec.dtype.is_floating)
                     for name, spec in signature.structured_input_signature[1].items()]

            def call(inputs):
                return signature(**{k: tf.constant(v) for k, v in inputs.items()})["images"].numpy()

    rng = np.random.default_rng(0)
    results = {}
    for batch in BATCHES:
        inputs = _draw(specs, batch, rng)
        r = time_calls(lambda: call(inputs), seconds)
        r["images_per_s"] = batch / (r["median_ms"] / 1e3)
        results[batch] = r
    return {"results": results, "peak_rss_mb": peak_rss_mb()}


def subprocess_json(args):
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------- report
def main_table(measured, configs):
    lines = [
        "| model | batch | ORT median / p90 ms | Keras median / p90 ms | SavedModel median / p90 ms "
        "| ORT img/s | Keras img/s | SavedModel img/s | Keras/ORT latency | ORT/Keras throughput |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, _, _ in configs:
        for batch in BATCHES:
            r = {b: measured[label][b]["results"][str(batch)] for b in BACKENDS}
            o, k, s = r["onnxruntime"], r["keras"], r["saved_model"]
            lines.append(
                f"| {label} | {batch} | {o['median_ms']:.2f} / {o['p90_ms']:.2f} "
                f"| {k['median_ms']:.2f} / {k['p90_ms']:.2f} | {s['median_ms']:.2f} / {s['p90_ms']:.2f} "
                f"| {o['images_per_s']:.0f} | {k['images_per_s']:.0f} | {s['images_per_s']:.0f} "
                f"| {k['median_ms'] / o['median_ms']:.1f}x | {o['images_per_s'] / k['images_per_s']:.2f}x |"
            )
    lines.append("")
    lines.append("| model | peak RSS ORT MB | peak RSS Keras MB | peak RSS SavedModel MB |")
    lines.append("|---|---:|---:|---:|")
    for label, _, _ in configs:
        rss = [measured[label][b]["peak_rss_mb"] for b in BACKENDS]
        lines.append(f"| {label} | {rss[0]:.0f} | {rss[1]:.0f} | {rss[2]:.0f} |")
    return "\n".join(lines)


def tune_table(tuned):
    lines = ["| ORT variant (dcgan-28) | b1 median ms | b16 median ms | b128 median ms | b128 img/s |",
             "|---|---:|---:|---:|---:|"]
    for name, m in tuned.items():
        r = m["results"]
        lines.append(f"| {name} | {r['1']['median_ms']:.3f} | {r['16']['median_ms']:.2f} "
                     f"| {r['128']['median_ms']:.2f} | {r['128']['images_per_s']:.0f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per (backend, batch)")
    parser.add_argument("--json", help="also write the measurements here")
    parser.add_argument("--no-tune", action="store_true", help="skip the ONNX Runtime tuning table")
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--prepare", help=argparse.SUPPRESS)
    parser.add_argument("--families", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.families:
        print(json.dumps(latent_families()))
        return
    if args.prepare:
        prepare(args.prepare, json.loads(os.environ["KERASGAN_BENCH_CONFIGS"]))
        print("{}")
        return
    if args.one:
        directory, label, backend, threads, optimization, onnx_file = args.one
        print(json.dumps(run_one(directory, label, backend, args.seconds,
                                 threads=int(threads) or None, optimization=optimization,
                                 onnx_file=onnx_file if onnx_file != "-" else None)))
        return

    # the family names, from a subprocess: this process stays free of TensorFlow
    names = subprocess_json(["--families"])
    for name, reason in names["skipped"].items():
        print(f"  {name}: skipped ({reason})", file=sys.stderr)
    configs = [(f"{name}-28", name, {"image_shape": [28, 28, 1]}) for name in names["measured"]]
    configs.append(("dcgan-64", "dcgan", {"image_shape": [64, 64, 3]}))
    with tempfile.TemporaryDirectory() as directory:
        env_configs = json.dumps(configs)
        os.environ["KERASGAN_BENCH_CONFIGS"] = env_configs
        subprocess_json(["--prepare", directory])
        measured = {}
        for label, _, _ in configs:
            measured[label] = {}
            for backend in BACKENDS:
                measured[label][backend] = subprocess_json(
                    ["--seconds", str(args.seconds), "--one", directory, label, backend, "0", "all", "-"])
        print(f"## Generator inference, {os.cpu_count()} CPU cores, {args.seconds:g} s per cell\n")
        print(main_table(measured, configs))
        tuned = {}
        if not args.no_tune:
            first = configs[0][0]
            variants = [
                ("opset 17, all optimisations, default threads", "0", "all", "-"),
                ("opset 17, basic optimisations", "0", "basic", "-"),
                ("opset 17, no optimisations", "0", "none", "-"),
                ("opset 17, 1 thread", "1", "all", "-"),
                ("opset 17, 2 threads", "2", "all", "-"),
                ("opset 13, all optimisations", "0", "all",
                 os.path.join(directory, first + "-opset13.onnx")),
            ]
            for name, threads, optimization, onnx_file in variants:
                tuned[name] = subprocess_json(["--seconds", str(args.seconds), "--one", directory,
                                               first, "onnxruntime", threads, optimization, onnx_file])
            print()
            print(tune_table(tuned))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"measured": measured, "tuned": tuned}, f, indent=2)


if __name__ == "__main__":
    main()
