"""FD (MNIST classifier features) measured during DCGAN training with MetricMonitor,
plotted next to the losses: the picture in docs/metrics.md.

Usage:
    python benchmarks/fd_during_training.py [--epochs 5] [--out docs/images/dcgan-fd-during-training.png]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--metric", default="fd2k_mnist")
    parser.add_argument("--out", default="docs/images/dcgan-fd-during-training.png")
    args = parser.parse_args()

    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import kerasgan

    keras.utils.set_random_seed(0)
    source = kerasgan.data.open_source("mnist-10k")
    gan = kerasgan.models.DCGAN(image_shape=(28, 28, 1), seed=0)
    gan.compile()
    monitor = kerasgan.callbacks.MetricMonitor(args.metric, data=source)
    start = time.perf_counter()
    history = gan.fit(source.dataset(128, seed=0, repeat=True), epochs=args.epochs,
                      steps_per_epoch=source.num_batches(128), callbacks=[monitor], verbose=2)
    wall = time.perf_counter() - start
    epochs = list(range(1, args.epochs + 1))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax1.plot(epochs, history.history["d_loss"], "o-", label="D loss")
    ax1.plot(epochs, history.history["g_loss"], "o-", label="G loss")
    ax1.set_xlabel("epoch")
    ax1.legend()
    ax1.set_title("losses")
    ax2.plot(epochs, history.history[args.metric], "o-", color="C3")
    ax2.set_xlabel("epoch")
    ax2.set_yscale("log")
    ax2.set_title(f"{args.metric} (lower is better)")
    fig.suptitle(f"DCGAN on mnist-10k, MetricMonitor('{args.metric}')", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    for r in monitor.results:
        print(f"epoch {r['epoch']}: {args.metric} = {r['value']:.3f} ({r['time_s']:.1f} s)")
    print(f"total wall time {wall:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
