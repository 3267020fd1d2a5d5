"""Training callbacks: sample grids, loss curves, metric monitoring, training health."""

from kerasgan.callbacks.health import (
    Diversity,
    HealthCheck,
    ModeCollapseWarning,
    Overfitting,
    OverfittingWarning,
    TrainingDiverged,
    diversity,
)
from kerasgan.callbacks.loss_curve import LossCurve
from kerasgan.callbacks.metric_monitor import MetricMonitor
from kerasgan.callbacks.sample_grid import SampleGrid
from kerasgan.callbacks.triplet_grid import TripletGrid
from kerasgan.callbacks.text_samples import TextSamples

__all__ = [
    "TripletGrid",
    "TextSamples",
    "SampleGrid",
    "LossCurve",
    "MetricMonitor",
    "HealthCheck",
    "TrainingDiverged",
    "Diversity",
    "ModeCollapseWarning",
    "Overfitting",
    "OverfittingWarning",
    "diversity",
]
