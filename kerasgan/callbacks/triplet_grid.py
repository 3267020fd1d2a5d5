"""`TripletGrid`: (input, output, target) rows of fixed pairs after each epoch."""

import numpy as np

from kerasgan.callbacks.sample_grid import SampleGrid


class TripletGrid(SampleGrid):
    """For an image-conditioned family: writes
    ``DIRECTORY/epoch_NNNN.png``, one row per pair, input / output / target,
    for the same pairs every epoch.

    Args:
        directory: folder for the PNG files (created if missing).
        inputs: float32 input images in [-1, 1] (e.g. the first pairs of
            ``source.arrays()``).
        targets: their target images (None: no target column; a two-way family
            then shows input / output / reconstruction).
        every_n_epochs: write every this many epochs.
        scale: integer upscaling of the PNG.

    Example:
        >>> x, y = source.arrays(0, 6)
        >>> gan.fit(ds, epochs=5, callbacks=[kerasgan.callbacks.TripletGrid("samples/", x, y)])
    """

    def __init__(self, directory, inputs, targets, every_n_epochs=1, scale=1):
        super().__init__(directory, every_n_epochs=every_n_epochs, scale=scale)
        self.inputs = np.asarray(inputs, dtype="float32")
        # None: a family that shows no target (unaligned domains)
        self.targets = None if targets is None else np.asarray(targets, dtype="float32")

    def _grid(self):
        return self.model.triplets(self.inputs, self.targets)
