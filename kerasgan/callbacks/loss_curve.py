"""`LossCurve`: a PNG plot of the per-epoch losses, redrawn after each epoch."""

import csv
import os

import keras

from kerasgan.images import atomic_write


def read_history_csv(path):
    """Reads a ``keras.callbacks.CSVLogger`` file into ``{column: [floats]}``."""
    history = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                try:
                    history.setdefault(key, []).append(float(value))
                except (TypeError, ValueError):
                    pass
    return history


def plot_history(history, path, title=None):
    """Plots every ``*loss*`` and penalty series of ``history`` against epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401

    keys = [k for k in history if k != "epoch" and history[k]]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for key in keys:
        values = history[key]
        ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=key)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("loss (epoch mean)")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
    return path


class LossCurve(keras.callbacks.Callback):
    """Redraws ``path`` (PNG) with the epoch means of the logged losses.

    When ``csv_path`` is given (a ``CSVLogger`` file), the whole history in it is
    plotted, so a resumed run shows its earlier epochs too.

    Args:
        path: the PNG to write.
        csv_path: optional CSV history to read instead of this run's logs.
        title: plot title.
    """

    def __init__(self, path, csv_path=None, title=None):
        super().__init__()
        self.path = os.fspath(path)
        self.csv_path = csv_path
        self.title = title
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        history = self.history
        if self.csv_path and os.path.exists(self.csv_path):
            history = read_history_csv(self.csv_path)
        plot_history(history, self.path, self.title)
