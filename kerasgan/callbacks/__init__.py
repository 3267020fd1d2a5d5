"""Training callbacks: sample grids and loss curves."""

from kerasgan.callbacks.loss_curve import LossCurve
from kerasgan.callbacks.sample_grid import SampleGrid

__all__ = ["SampleGrid", "LossCurve"]
