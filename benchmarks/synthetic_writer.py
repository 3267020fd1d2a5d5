"""Synthetic datasets: speed, peak memory and disk use of the streamed writer.

Runs the deployment kit's ``generate.py --dataset`` (no TensorFlow) in a fresh
process per row on an exported zoo generator, for each format and two sizes N
(10x apart), and reads the process's own peak resident memory (``wait4``'s
``ru_maxrss``). The last row is the in-memory path (``--npy``: all N images in
one array) at the larger N, for comparison. Prints a markdown table and writes
``runs/bench/synthetic_writer.json``.

::

    python benchmarks/synthetic_writer.py                      # dcgan-mnist, N 5,000 and 50,000
    python benchmarks/synthetic_writer.py --entry sngan-cifar10 --sizes 2000 20000

The ONNX model is exported once with ``kerasgan zoo export`` into the work folder.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KIT = os.path.join(REPO, "export", "generate.py")


def run(cmd):
    """Wall seconds and peak RSS (MB) of ``cmd`` in its own process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss / 1024.0


def disk_bytes(path):
    if os.path.isfile(path):
        return os.stat(path).st_blocks * 512
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.stat(os.path.join(root, f)).st_blocks * 512 for f in files)
    return total


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--entry", default="dcgan-mnist")
    p.add_argument("--sizes", type=int, nargs=2, default=(5000, 50000))
    p.add_argument("--formats", nargs="+", default=["folder", "npz", "tfrecord"])
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    p.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    p.add_argument("--out", default=os.path.join(REPO, "runs", "bench", "synthetic_writer.json"))
    args = p.parse_args(argv)

    work = args.work or tempfile.mkdtemp(prefix="kg-synthetic-")
    os.makedirs(work, exist_ok=True)
    model = os.path.join(work, f"{args.entry}.onnx")
    if not os.path.exists(model):
        subprocess.run([sys.executable, "-m", "kerasgan.cli", "zoo", "export", args.entry,
                        "--out", work, "--format", "onnx"], check=True, capture_output=True)
    extra = ["--threads", str(args.threads)] if args.threads else []
    label = []
    meta = subprocess.run([sys.executable, KIT, model, "--info"], capture_output=True, text=True,
                          check=True)
    if json.loads(meta.stdout).get("num_classes"):
        label = ["--label", "0"]
    rows = []
    for n in args.sizes:
        for fmt in args.formats:
            out = os.path.join(work, f"{fmt}-{n}")
            shutil.rmtree(out, ignore_errors=True)
            wall, rss = run([sys.executable, KIT, model, "--dataset", out, "--n", str(n),
                             "--format", fmt, "--quiet", *extra])
            rows.append({"what": f"--dataset --format {fmt}", "n": n, "seconds": wall,
                         "images_per_s": n / wall, "peak_rss_mb": rss,
                         "disk_bytes_per_image": disk_bytes(out) / n})
            shutil.rmtree(out, ignore_errors=True)
            print(rows[-1], flush=True)
    n = max(args.sizes)
    npy = os.path.join(work, "all.npy")
    wall, rss = run([sys.executable, KIT, model, "--n", str(n), "--npy", npy, "--seed", "0",
                     *label, *extra])
    rows.append({"what": "--npy (in memory)", "n": n, "seconds": wall, "images_per_s": n / wall,
                 "peak_rss_mb": rss, "disk_bytes_per_image": disk_bytes(npy) / n})
    os.remove(npy)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{args.entry}, ONNX Runtime, {os.cpu_count()} CPUs; one fresh process per row\n")
    print("| writer | N | seconds | images/s | peak RSS (MB) | disk bytes / image |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['what']} | {r['n']:,} | {r['seconds']:.1f} | {r['images_per_s']:,.0f} | "
              f"{r['peak_rss_mb']:.0f} | {r['disk_bytes_per_image']:,.0f} |")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"entry": args.entry, "rows": rows, "cpus": os.cpu_count()}, f, indent=1)


if __name__ == "__main__":
    main()
