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


#: series drawn on the lower panel: the over-fitting signal and ADA's p (in [-1, 1])
SIGNALS = ("r_t", "aug_p")


def split_series(history):
    """``(losses, signals)``: the keys of ``history`` drawn on the loss panel
    and those on the over-fitting panel (:data:`SIGNALS`, when logged)."""
    keys = [k for k in history if k != "epoch" and history[k]]
    signals = [k for k in keys if k in SIGNALS]
    return [k for k in keys if k not in SIGNALS], signals


def plot_history(history, path, title=None, target=None):
    """Plots every ``*loss*`` and penalty series of ``history`` against epochs;
    ``r_t`` and ADA's ``aug_p``, when logged, on a second panel below (with
    ADA's ``target`` of ``r_t`` as a dashed line when given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401

    keys, signals = split_series(history)
    if signals:
        fig, (ax, low) = plt.subplots(2, 1, figsize=(6, 5.4), dpi=100, sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    else:
        fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for key in keys:
        values = history[key]
        ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=key)
    ax.set_ylabel("loss (epoch mean)")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    bottom = ax
    if signals:
        names = {"r_t": "r_t = E[sign(D(real))]", "aug_p": "ADA p"}
        for key in signals:
            values = history[key]
            low.plot(range(1, len(values) + 1), values, marker="o", markersize=3,
                     label=names[key])
        if target is not None:
            low.axhline(target, color="gray", linestyle="--", linewidth=1,
                        label=f"ADA target {target:g}")
        low.set_ylabel("over-fitting")
        low.set_ylim(-1.05, 1.05)
        low.grid(alpha=0.3)
        low.legend(fontsize=8, loc="lower right")
        bottom = low
    bottom.set_xlabel("epoch")
    bottom.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
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

    With an ``r_t`` log (every image family) a second panel shows it, with
    ADA's ``p`` and target when the model has ADA.

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

    def _target(self):
        augmentation = getattr(self.model, "augmentation", None)
        return getattr(augmentation, "target", None)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        history = self.history
        if self.csv_path and os.path.exists(self.csv_path):
            history = read_history_csv(self.csv_path)
        plot_history(history, self.path, self.title, target=self._target())
