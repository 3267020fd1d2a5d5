"""`SampleGrid`: a PNG grid of samples from fixed latents after each epoch."""

import os

import keras

from kerasgan.images import save_grid


class SampleGrid(keras.callbacks.Callback):
    """Writes ``DIRECTORY/epoch_NNNN.png`` from the same latents every epoch, so
    the grids show how one set of samples evolves (EMA generator when enabled).
    A conditional family's grid has one row per class (see ``GAN.sample_grid``).

    Args:
        directory: folder for the PNG files (created if missing).
        n: number of samples in the grid.
        seed: seed of the fixed latents.
        every_n_epochs: write every this many epochs (and after the last one).
        scale: integer upscaling of the PNG (nearest neighbour).

    Example:
        >>> gan.fit(ds, epochs=5, callbacks=[kerasgan.callbacks.SampleGrid("samples/")])
    """

    def __init__(self, directory, n=64, seed=0, every_n_epochs=1, scale=1):
        super().__init__()
        self.directory = os.fspath(directory)
        self.n = int(n)
        self.seed = seed
        self.every_n_epochs = max(1, int(every_n_epochs))
        self.scale = int(scale)
        self.last_path = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        images, nrow = self._grid()
        path = os.path.join(self.directory, f"epoch_{epoch + 1:04d}.png")
        self.last_path = save_grid(images, path, nrow=nrow, scale=self.scale)

    def _grid(self):
        """``(images, nrow)`` of this epoch's grid."""
        return self.model.sample_grid(self.n, seed=self.seed)
