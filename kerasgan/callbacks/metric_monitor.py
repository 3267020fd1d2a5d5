"""`MetricMonitor`: a quality metric (FID, KID, ...) logged during ``fit``."""

import math

import keras



def due(epoch, every_n_epochs, epochs):
    """Whether a callback that runs every ``every_n_epochs`` epochs (and at the
    last of ``epochs``, when known) runs at the end of 0-based ``epoch``; the
    epochs in between log NaN, so the CSV column exists from the start."""
    last = epochs is not None and epoch + 1 == epochs
    return last or (epoch + 1) % every_n_epochs == 0

class MetricMonitor(keras.callbacks.Callback):
    """Computes a named metric every ``every_n_epochs`` epochs and adds it to the
    epoch's logs, so ``History``, ``CSVLogger`` and ``TensorBoard`` record it.

    Put it **before** those callbacks in the list: Keras calls callbacks in order
    and they share one logs dict. Epochs without an evaluation log NaN, so the
    CSV column exists from the first epoch.

    Args:
        metric: a registered metric name (``kerasgan.metrics.metric_names()``),
            e.g. ``"fd2k_mnist"`` (fast on CPU) or ``"fid10k"``.
        data: reference data for metrics that compare with real images (a
            source name, an ``ImageSource`` or a uint8 array).
        every_n_epochs: evaluate after every this many epochs (and the last).
        split: split of ``data``.
        num_gen: override the metric's generated-sample count.
        seed: seed of the generated samples (the same every time, so epochs
            compare like with like).
        log_name: key in the logs (default: the metric name).

    Example:
        >>> monitor = kerasgan.callbacks.MetricMonitor("fd2k_mnist", data="mnist-10k")
        >>> gan.fit(ds, epochs=10, callbacks=[monitor, keras.callbacks.CSVLogger("h.csv")])
        >>> monitor.results[-1]["value"]
    """

    def __init__(self, metric, data=None, every_n_epochs=1, split="train", num_gen=None, seed=0,
                 log_name=None, batch_size=64):
        super().__init__()
        from kerasgan.metrics import get_metric

        self.metric = get_metric(metric).name  # unknown names fail here, not after an epoch
        self.data = data
        self.every_n_epochs = max(1, int(every_n_epochs))
        self.split = split
        self.num_gen = num_gen
        self.seed = seed
        self.batch_size = batch_size
        self.log_name = log_name or self.metric
        self.results = []
        self._epochs = None

    def on_train_begin(self, logs=None):
        self._epochs = self.params.get("epochs") if self.params else None

    def on_epoch_end(self, epoch, logs=None):
        from kerasgan.metrics import evaluate

        logs = logs if logs is not None else {}
        if not due(epoch, self.every_n_epochs, self._epochs):
            logs[self.log_name] = math.nan
            return
        result = evaluate(self.model, [self.metric], data=self.data, split=self.split, seed=self.seed,
                          num_gen=self.num_gen, batch_size=self.batch_size)[self.metric]
        result["epoch"] = epoch + 1
        self.results.append(result)
        logs[self.log_name] = result["value"]
