"""`TripletGrid`: (input, output, target) rows of fixed pairs after each epoch."""

import os

import keras
import numpy as np

from kerasgan.images import save_grid


class TripletGrid(keras.callbacks.Callback):
    """For an image-conditioned family (Pix2Pix, CycleGAN): writes
    ``DIRECTORY/epoch_NNNN.png``, one row per pair, input / output / target,
    for the same pairs every epoch.

    Args:
        directory: folder for the PNG files (created if missing).
        inputs: float32 input images in [-1, 1] (e.g. the first pairs of
            ``source.arrays()``).
        targets: their target images (None: no target column; CycleGAN
            then shows input / output / reconstruction).
        every_n_epochs: write every this many epochs.
        scale: integer upscaling of the PNG.

    Example:
        >>> x, y = source.arrays(0, 6)
        >>> gan.fit(ds, epochs=5, callbacks=[kerasgan.callbacks.TripletGrid("samples/", x, y)])
    """

    def __init__(self, directory, inputs, targets, every_n_epochs=1, scale=1):
        super().__init__()
        self.directory = os.fspath(directory)
        self.inputs = np.asarray(inputs, dtype="float32")
        # None: a family that shows no target (CycleGAN on unaligned domains)
        self.targets = None if targets is None else np.asarray(targets, dtype="float32")
        self.every_n_epochs = max(1, int(every_n_epochs))
        self.scale = int(scale)
        self.last_path = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        images, nrow = self.model.triplets(self.inputs, self.targets)
        path = os.path.join(self.directory, f"epoch_{epoch + 1:04d}.png")
        self.last_path = save_grid(images, path, nrow=nrow, scale=self.scale)
