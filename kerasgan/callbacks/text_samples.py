"""`TextSamples`: sentences from a fixed seed after each epoch, and a collapse signal."""

import os
import warnings

import keras

from kerasgan.callbacks.health import ModeCollapseWarning
from kerasgan.images import atomic_write


class TextSamples(keras.callbacks.Callback):
    """Writes ``DIRECTORY/epoch_NNNN.txt``, ``n`` sentences of a token-sequence
    model sampled with the same seed every epoch, and logs ``distinct``: the
    share of distinct sequences among them (before the CSV logger, which
    records it). A share below ``collapse_below`` raises a
    :class:`kerasgan.callbacks.ModeCollapseWarning`: a text GAN that collapses
    writes the same few sentences over and over.

    Args:
        directory: folder for the text files (created if missing).
        n: sentences per epoch.
        seed: seed of the sampling.
        temperature: sampling temperature.
        collapse_below: the warning's threshold on ``distinct``.

    Example:
        >>> model.fit(ds, epochs=5, callbacks=[kerasgan.callbacks.TextSamples("samples/")])
    """

    def __init__(self, directory, n=64, seed=0, temperature=1.0, collapse_below=0.5):
        super().__init__()
        self.directory = os.fspath(directory)
        self.n, self.seed, self.temperature = int(n), seed, float(temperature)
        self.collapse_below = float(collapse_below)
        self.last_path = None

    def on_epoch_end(self, epoch, logs=None):
        out = self.model.generate(self.n, seed=self.seed, temperature=self.temperature)
        distinct = len({tuple(row) for row in out.ids.tolist()}) / len(out.ids)
        if logs is not None:
            logs["distinct"] = distinct
        path = os.path.join(self.directory, f"epoch_{epoch + 1:04d}.txt")

        def write(tmp):
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("\n".join(out.texts) + "\n")

        atomic_write(path, write)
        self.last_path = path
        if distinct < self.collapse_below:
            warnings.warn(
                f"epoch {epoch + 1}: only {distinct:.0%} of {self.n} sampled sequences are "
                f"distinct: the generator may be collapsing (see {path})",
                ModeCollapseWarning, stacklevel=2)
