"""Training health: stop on NaN/Inf (`HealthCheck`), watch for mode collapse
(`Diversity`) and for a discriminator that over-fits (`Overfitting`).

Both are ``keras.callbacks.Callback``s for :meth:`kerasgan.GAN.fit`. Their place in
the callback list matters, because Keras calls callbacks in list order and they
share one logs dict:

- ``HealthCheck`` goes **before** every callback that saves state (backups,
  ``ModelCheckpoint``, ``EpochBackup``): it raises :class:`TrainingDiverged`
  from ``on_train_batch_end`` / ``on_epoch_end``, so the callbacks after it
  never see the diverged state and the last good backup is left untouched.
- ``Diversity`` goes **before** ``CSVLogger`` (and any callback that reads the
  epoch logs): it writes ``logs["diversity"]``, which ``History`` (appended
  last by Keras) and the callbacks after it then record.

Example:
    >>> callbacks = [
    ...     kerasgan.callbacks.HealthCheck(),
    ...     kerasgan.callbacks.Diversity(real_images=source.images, seed=0),
    ...     keras.callbacks.CSVLogger("history.csv"),
    ...     backup_callback,
    ... ]
    >>> gan.fit(dataset, epochs=10, callbacks=callbacks)

See ``docs/training_health.md`` for the measured diversity values behind the
default threshold.
"""

import math
import warnings

import numpy as np
import keras
import tensorflow as tf

__all__ = [
    "TrainingDiverged",
    "HealthCheck",
    "ModeCollapseWarning",
    "Diversity",
    "diversity",
    "term_network",
    "DEFAULT_WARN_BELOW",
    "RAW_WARN_BELOW",
    "DEFAULT_WARMUP_STEPS",
    "DEFAULT_DROP_FRACTION",
    "Overfitting",
    "OverfittingWarning",
    "DEFAULT_RT_WARN_ABOVE",
]

#: r_t = E[sign(D(real))] above which ``Overfitting`` warns (docs/augmentation.md)
DEFAULT_RT_WARN_ABOVE = 0.9


class TrainingDiverged(RuntimeError):
    """Raised by :class:`HealthCheck` when a loss or a weight is NaN or Inf.

    The message's first line says where and what (step, epoch, batch, the
    non-finite terms and the networks with non-finite weights); the lines after
    it say what to try. The details are also attributes:

    Attributes:
        step: global generator step (``gan.g_optimizer.iterations``) when it was
            detected: the failing step is this one (steps are counted from 1).
        epoch: 1-based epoch.
        batch: 1-based batch within the epoch (None when found at epoch end).
        terms: ``{log name: value}`` of the non-finite logged terms.
        variables: ``{part: [variable paths]}`` of the non-finite variables, the
            part being ``"generator"``, ``"discriminator"``, ``"EMA generator"``,
            ``"generator optimizer"`` or ``"discriminator optimizer"``.
        networks: the networks involved, e.g. ``["discriminator"]``.
        exploded: ``{network: (max |w|, variable path)}`` of networks whose
            weights are finite but huge (see ``HealthCheck(huge=...)``).
    """

    def __init__(self, message, step=None, epoch=None, batch=None, terms=None, variables=None,
                 networks=None, exploded=None):
        super().__init__(message)
        self.step = step
        self.epoch = epoch
        self.batch = batch
        self.terms = dict(terms or {})
        self.variables = dict(variables or {})
        self.networks = list(networks or [])
        self.exploded = dict(exploded or {})


# --------------------------------------------------------------------- HealthCheck

# Which network a logged term belongs to. Unknown names fall back to their
# prefix (``d_`` / ``g_``).
_TERM_NETWORKS = {
    "d_loss": ("discriminator",),
    "gp": ("discriminator",),      # Wasserstein gradient penalty
    "r1": ("discriminator",),      # R1 penalty
    "d_cls": ("discriminator",),   # auxiliary-classifier loss, discriminator side
    "g_loss": ("generator",),
    "g_cls": ("generator",),       # auxiliary-classifier loss, generator side
    # the mutual-information term L_I: the Q head sits on the discriminator, and the term is in
    # both networks' losses.
    "info": ("generator", "discriminator"),
}

_PART_NETWORK = {
    "generator": "generator",
    "EMA generator": "generator",
    "generator optimizer": "generator",
    "discriminator": "discriminator",
    "discriminator optimizer": "discriminator",
}


def term_network(name):
    """The network(s) a logged term trains, as a tuple (``()`` when unknown):
    ``d_loss``, ``gp``, ``r1``, ``d_cls`` -> discriminator; ``g_loss``,
    ``g_cls`` -> generator; ``info`` -> both; other ``d_*`` / ``g_*`` names by
    prefix."""
    if name in _TERM_NETWORKS:
        return _TERM_NETWORKS[name]
    if name.startswith("d_"):
        return ("discriminator",)
    if name.startswith("g_"):
        return ("generator",)
    return ()


def _is_float(variable):
    return "float" in str(getattr(variable, "dtype", ""))


def _variable_parts(model):
    """``[(part, [variables])]``: the weights and optimizer state to watch."""
    parts = []
    for attr, part in (("generator", "generator"), ("discriminator", "discriminator"),
                       ("ema_generator", "EMA generator")):
        net = getattr(model, attr, None)
        if net is not None:
            parts.append((part, list(net.weights)))
    for attr, part in (("g_optimizer", "generator optimizer"),
                       ("d_optimizer", "discriminator optimizer")):
        opt = getattr(model, attr, None)
        if opt is not None:
            parts.append((part, list(opt.variables)))
    if not parts:  # a plain Keras model
        parts.append(("model", list(model.weights)))
        if getattr(model, "optimizer", None) is not None:
            parts.append(("optimizer", list(model.optimizer.variables)))
    return parts


def _read(variable):
    # a keras.Variable holds the backend variable (a MirroredVariable under
    # MirroredStrategy) in ``.value``; reading it in the cross-replica context
    # gives one (synchronised) copy.
    return variable.value if isinstance(variable, keras.Variable) else variable


class FiniteFlags:
    """One ``tf.function`` returning a bool per variable (all values finite?).

    All variables are checked in a single call (one dispatch, one small
    device-to-host copy), so the check costs one pass over the weights' memory
    plus a fixed overhead; call it from the cross-replica context (a callback).
    """

    def __init__(self, variables):
        self.variables = list(variables)
        self._fn = tf.function(self._flags, autograph=False)

    def _flags(self):
        if not self.variables:
            return tf.zeros((0,), tf.bool)
        return tf.stack([tf.reduce_all(tf.math.is_finite(_read(v))) for v in self.variables])

    def __call__(self):
        return np.asarray(self._fn()).astype(bool)


def _fmt_value(value):
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def _short_list(names, limit):
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f", +{len(names) - limit} more"
    return shown


def _learning_rate(opt):
    try:
        return f"{float(np.asarray(keras.ops.convert_to_numpy(opt.learning_rate))):.3g}"
    except Exception:  # a schedule or an unusual optimizer: leave the value out
        return None


class HealthCheck(keras.callbacks.Callback):
    """Stops ``fit`` with :class:`TrainingDiverged` as soon as a loss, a logged
    term or a weight is NaN or Inf.

    After every train batch it checks the batch logs (``g_loss``, ``d_loss``
    and the family's extra terms, e.g. ``gp``, ``r1``, ``d_cls``, ``g_cls``,
    ``info``); every ``check_every`` batches, and at every epoch end, it also
    checks every weight of the generator, the discriminator and the EMA
    generator and every slot of both optimizers (one ``tf.function`` call for
    all of them). Keras's batch logs are running epoch means, so a NaN stays
    NaN until the epoch ends: the batch reported is the first failing one.

    The error names the global generator step (``gan.g_optimizer.iterations``),
    the epoch and batch, the non-finite terms with the network each one trains,
    and the variables that are non-finite, e.g.::

        training diverged at step 1234 (epoch 3, batch 17): d_loss is nan
        (discriminator); the discriminator has non-finite weights (conv2d_1/kernel,
        ...)

    followed by what to try.

    **Order**: put it before every callback that saves the model (backups,
    ``ModelCheckpoint``). It raises inside ``on_train_batch_end`` /
    ``on_epoch_end``, so the callbacks after it do not run for the failing
    batch or epoch and the last good backup is left as it was. (Keras's
    ``TerminateOnNaN`` only sets ``stop_training``: the epoch-end callbacks
    still run and a backup of the NaN state gets written.)

    It works for models built under ``tf.distribute`` strategies (variables are
    read in the cross-replica context) and with wrapped optimizers such as
    ``LossScaleOptimizer`` (their ``variables`` are checked).

    Args:
        check_every: check the weights every this many batches (losses are
            checked every batch, they are free). 0 or None: weights only at
            epoch ends.
        check_weights: False checks the logged terms only.
        max_names: variable names listed per network in the message.
        huge: on failure, a network whose weights are all finite but reach
            this magnitude is named too ("finite but huge"): often the cause.
    """

    def __init__(self, check_every=1, check_weights=True, max_names=4, huge=1e4):
        super().__init__()
        self.huge = float(huge)
        self.check_every = int(check_every or 0)
        self.check_weights = bool(check_weights)
        self.max_names = int(max_names)
        self._epoch = 0
        self._batches = 0
        self._flags = None
        self._signature = None
        self._parts = None
        self._checked_weights_at = None
        #: number of weight checks made (each one ``tf.function`` call).
        self.weight_checks = 0

    @property
    def parts(self):
        """``[(part, [variables])]`` checked: generator, discriminator, EMA
        generator, each optimizer (floating-point variables only)."""
        if self._parts is None and self.model is not None:
            self._weight_flags()
        return self._parts

    # -------------------------------------------------------------- helpers
    def _terms(self, logs):
        """The logged values to check: the model's metrics (not what other
        callbacks add, e.g. a metric monitor's NaN placeholder)."""
        names = [m.name for m in getattr(self.model, "metrics", [])]
        if not names:
            names = list(logs)
        bad = {}
        for name in names:
            value = logs.get(name)
            if isinstance(value, (int, float)) and not math.isfinite(value):
                bad[name] = float(value)
        return bad

    def _weight_flags(self):
        parts = _variable_parts(self.model)
        signature = tuple((p, len(vs)) for p, vs in parts)
        if self._flags is None or signature != self._signature:
            # (re)build when variables appeared, e.g. optimizer slots built late
            self._parts = [(p, [v for v in vs if _is_float(v)]) for p, vs in parts]
            seen, flat = set(), []
            for _, vs in self._parts:
                for v in vs:
                    if id(v) not in seen:
                        seen.add(id(v))
                        flat.append(v)
            self._flat = flat
            self._flags = FiniteFlags(flat)
            self._signature = signature
        return self._flags()

    def _bad_variables(self):
        ok = self._weight_flags()
        self.weight_checks += 1
        finite = {id(v): bool(f) for v, f in zip(self._flat, ok)}
        bad = {}
        for part, vs in self._parts:
            names = [getattr(v, "path", None) or v.name for v in vs if not finite[id(v)]]
            if names:
                bad[part] = names
        return bad

    def _step(self):
        opt = getattr(self.model, "g_optimizer", None) or getattr(self.model, "optimizer", None)
        if opt is None:
            return None
        return int(np.asarray(keras.ops.convert_to_numpy(opt.iterations)))

    # ------------------------------------------------------------- callbacks
    def on_train_begin(self, logs=None):
        self._batches = 0
        self._checked_weights_at = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = int(epoch)
        self._checked_weights_at = None

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        bad_terms = self._terms(logs or {})
        weights_due = (self.check_weights and self.check_every
                       and self._batches % self.check_every == 0)
        bad_vars = {}
        if bad_terms or weights_due:
            bad_vars = self._bad_variables() if self.check_weights else {}
            self._checked_weights_at = self._step()
        if bad_terms or bad_vars:
            self._raise(batch, bad_terms, bad_vars)

    def on_epoch_end(self, epoch, logs=None):
        bad_terms = self._terms(logs or {})
        bad_vars = {}
        # weights at every epoch end (unless the last batch just checked them),
        # so a backup after this callback never saves a non-finite state
        if self.check_weights and self._checked_weights_at != self._step():
            bad_vars = self._bad_variables()
        if bad_terms or bad_vars:
            self._raise(None, bad_terms, bad_vars)

    # --------------------------------------------------------------- message
    def _raise(self, batch, bad_terms, bad_vars):
        step = self._step()
        epoch = self._epoch + 1
        where = f"step {step} " if step is not None else ""
        where += (f"(epoch {epoch}, batch {batch + 1})" if batch is not None
                  else f"(end of epoch {epoch})")
        networks = []

        def add(net):
            if net and net not in networks:
                networks.append(net)

        parts = []
        for name, value in bad_terms.items():
            nets = term_network(name)
            for net in nets:
                add(net)
            owner = f" ({' and '.join(nets)})" if nets else ""
            parts.append(f"{name} is {_fmt_value(value)}{owner}")
        for part, names in bad_vars.items():
            add(_PART_NETWORK.get(part, part))
            what = "state" if "optimizer" in part else "weights"
            parts.append(f"the {part} has non-finite {what} ({_short_list(names, self.max_names)})")
        exploded = self._exploded(bad_vars) if self.check_weights else {}
        for part, (value, path) in exploded.items():
            add(part)
            parts.append(f"the {part}'s weights are finite but huge ({path} reaches "
                         f"|w| = {value:.2g})")
        if bad_terms and not bad_vars and self.check_weights:
            parts.append("all weights are still finite")
        first = f"training diverged at {where}: " + "; ".join(parts)

        advice = []
        for net, attr in (("discriminator", "d_optimizer"), ("generator", "g_optimizer")):
            if net not in networks:
                continue
            opt = getattr(self.model, attr, None)
            lr = _learning_rate(opt) if opt is not None else None
            now = f" ({attr} learning_rate is {lr})" if lr else ""
            tip = f"lower the {net}'s learning rate{now}"
            if net == "discriminator":
                tip += ", or regularise it (r1_gamma, a gradient penalty, spectral normalisation)"
            advice.append(tip)
        if any(n in ("gp", "r1") for n in bad_terms):
            advice.append("lower the penalty weight (gp_weight / r1_gamma)")
        advice.append("check that the training images are finite and scaled to [-1, 1]")
        advice.append("under mixed precision keep the optimizers wrapped in "
                      "keras.optimizers.LossScaleOptimizer")
        # the epochs before this one completed (self._epoch is 0-based)
        completed = self._epoch
        saved = (f"the last good backup (end of epoch {completed}, if the run keeps backups) "
                 "is untouched; resume from it with the changes above" if completed else
                 "no epoch had completed, so there is no backup of this run to resume from; "
                 "restart with the changes above")
        message = "\n".join([
            first,
            "  What to try: " + "; ".join(advice) + ".",
            "  Training stopped before the callbacks after HealthCheck ran, so the diverged "
            f"state was not saved: {saved}.",
        ])
        raise TrainingDiverged(
            message, step=step, epoch=epoch, batch=None if batch is None else batch + 1,
            terms=bad_terms, variables=bad_vars, networks=networks, exploded=exploded,
        )

    def _exploded(self, bad_vars):
        """``{network: (max |w|, variable path)}`` for a network whose trainable
        weights are all finite but above ``huge`` (computed only on failure):
        often the real culprit, e.g. a discriminator blown up by a too-large
        learning rate makes the generator's gradients overflow."""
        out = {}
        for attr in ("generator", "discriminator"):
            net = getattr(self.model, attr, None)
            if net is None or attr in bad_vars:
                continue
            top = (0.0, None)
            for v in net.trainable_variables:
                if _is_float(v):
                    w = np.asarray(keras.ops.convert_to_numpy(v.value))
                    if w.size:
                        m = float(np.max(np.abs(w)))
                        if m > top[0]:
                            top = (m, getattr(v, "path", None) or v.name)
            if top[0] > self.huge:
                out[attr] = top
        return out


# ----------------------------------------------------------------------- Diversity

#: default ``warn_below`` of :class:`Diversity`, for the ratio to real images
#: (measured, see docs/training_health.md): trained zoo generators 0.94-1.02,
#: real-vs-real 0.93-1.05, collapsed generators 0.00-0.18.
DEFAULT_WARN_BELOW = 0.25
#: default ``warn_below`` without real images (the raw statistic): 0.25 x the
#: raw diversity of real MNIST (0.73) / CIFAR-10 (0.68) batches, rounded.
RAW_WARN_BELOW = 0.18
#: default ``drop_fraction`` of :class:`Diversity`.
DEFAULT_DROP_FRACTION = 0.5
#: default ``warmup_steps`` of :class:`Diversity`: batch-norm generators start
#: almost constant (ratio ~0.02 untrained) and pass 0.25 after ~100 steps.
DEFAULT_WARMUP_STEPS = 500


class ModeCollapseWarning(UserWarning):
    """Warned by :class:`Diversity` when the samples' diversity collapses."""


def _as_unit_images(images):
    """NHWC (or NHW) images as float64 in [-1, 1]: uint8 is mapped from
    [0, 255], floats are taken as already in [-1, 1]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"expected a batch of NHWC images, got shape {images.shape}")
    if images.dtype == np.uint8:
        return images.astype("float64") / 127.5 - 1.0
    return images.astype("float64")


def diversity(images):
    """Mean pairwise RMS distance of a batch of images in [-1, 1].

    ``D = mean_{i<j} sqrt(mean_p (x_i[p] - x_j[p])^2)`` over all pixels and
    channels ``p``: the per-pixel root-mean-square difference, so the value does
    not depend on the resolution. 0 when all images are the same; uniform
    noise in [-1, 1] measures 0.82, 64 real MNIST digits 0.71-0.74, 64 real
    CIFAR-10 images 0.63-0.72 (see docs/training_health.md).

    Args:
        images: ``(n, H, W, C)`` float in [-1, 1] or uint8, ``n >= 2``.
    """
    x = _as_unit_images(images)
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"diversity needs at least 2 images, got {n}")
    x = x.reshape(n, -1)
    sq = np.einsum("ij,ij->i", x, x)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    d2 = np.maximum(d2, 0.0) / x.shape[1]
    upper = np.triu_indices(n, k=1)
    return float(np.mean(np.sqrt(d2[upper])))


class Diversity(keras.callbacks.Callback):
    """A mode-collapse signal: the diversity of a fixed batch of samples,
    logged as ``logs["diversity"]`` after every epoch.

    At each epoch end it generates the same ``n`` samples (fixed ``seed``; for a
    class-conditional family ``labels="random"``, drawn from the seed, so the
    classes vary) with ``gan.generate`` (the EMA generator when enabled) and
    computes :func:`diversity`. With ``real_images`` the logged value is the
    ratio to the diversity of ``n`` real images (drawn once with the same seed):
    about 1 is as varied as the data, 0 is fully collapsed. Without them it is
    the raw statistic.

    It warns with :class:`ModeCollapseWarning` (once per epoch; Python shows
    it on stderr) when

    - the value is below ``warn_below`` once the generator has made
      ``warmup_steps`` updates (a batch-norm generator starts out nearly
      constant: an untrained one measures ~0.02), or
    - the value falls below ``drop_fraction`` times its best so far in this
      ``fit``.

    **Order**: put it before ``CSVLogger`` (and any callback that reads the
    epoch logs): Keras passes one logs dict through the callbacks in list
    order, and ``History`` comes last.

    Args:
        real_images: optional reference images (uint8, or floats in [-1, 1];
            NHWC of the generator's shape), e.g. ``source.images``; an object
            with an ``images`` attribute (an ``ImageSource``) also works.
        n: samples per evaluation (and real images in the reference).
        seed: seed of the fixed generator inputs and of the real-image draw.
        warn_below: absolute threshold; ``"default"``:
            :data:`DEFAULT_WARN_BELOW` (0.25) for the ratio,
            :data:`RAW_WARN_BELOW` (0.18) without real images. None disables
            the rule.
        warmup_steps: generator steps (``gan.g_optimizer.iterations``) before
            the ``warn_below`` rule applies.
        drop_fraction: warn when the value falls below this fraction of its
            best so far (None disables the rule).
        every_n_epochs: evaluate every this many epochs (and the last); the
            epochs in between log NaN so the CSV column exists from the start.
        log_name: key in the logs.

    Attributes:
        values: ``[(epoch, value)]`` of the evaluations (1-based epochs).
        reference: diversity of the real batch (None without real images).
        best: the best value so far.

    Example:
        >>> div = kerasgan.callbacks.Diversity(real_images=source.images, seed=0)
        >>> gan.fit(ds, epochs=5, callbacks=[div, keras.callbacks.CSVLogger("h.csv")])
    """

    def __init__(self, real_images=None, n=64, seed=0, warn_below="default",
                 warmup_steps=DEFAULT_WARMUP_STEPS, drop_fraction=DEFAULT_DROP_FRACTION,
                 every_n_epochs=1, log_name="diversity"):
        super().__init__()
        if int(n) < 2:
            raise ValueError(f"Diversity needs n >= 2 samples, got {n}")
        self.n = int(n)
        self.seed = seed
        if real_images is not None and hasattr(real_images, "images"):
            real_images = real_images.images
        self.real_images = real_images
        if isinstance(warn_below, str):
            if warn_below != "default":
                raise ValueError(
                    f"warn_below must be a number, None or 'default', got {warn_below!r}")
            warn_below = DEFAULT_WARN_BELOW if real_images is not None else RAW_WARN_BELOW
        self.warn_below = None if warn_below is None else float(warn_below)
        self.warmup_steps = int(warmup_steps or 0)
        self.drop_fraction = None if drop_fraction is None else float(drop_fraction)
        self.every_n_epochs = max(1, int(every_n_epochs))
        self.log_name = log_name
        self.reference = None
        self.values = []
        self.best = None
        self._epochs = None

    def _reference(self, shape):
        images = self.real_images
        if len(images) < 2:
            raise ValueError("Diversity: real_images needs at least 2 images")
        rng = np.random.default_rng(self.seed)
        take = np.sort(rng.choice(len(images), size=min(self.n, len(images)), replace=False))
        batch = _as_unit_images(np.asarray(images[take]))
        if tuple(batch.shape[1:]) != tuple(shape):
            raise ValueError(
                f"Diversity: real_images are {tuple(batch.shape[1:])} images but the generator "
                f"makes {tuple(shape)}: give real images of the generator's shape"
            )
        return diversity(batch)

    def on_train_begin(self, logs=None):
        self._epochs = self.params.get("epochs") if self.params else None
        self.best = None
        if self.real_images is not None and self.reference is None:
            shape = self.model.sampling_generator.output_shape[1:]
            self.reference = self._reference(shape)

    def sample(self):
        """The fixed batch of samples, in [-1, 1]."""
        gan = self.model
        labels = "random" if getattr(gan, "num_classes", None) else None
        return gan.generate(self.n, seed=self.seed, labels=labels)

    def measure(self):
        """The current value (the ratio to the real batch when there is one)."""
        value = diversity(self.sample())
        if self.reference is not None:
            value = value / self.reference if self.reference > 0 else math.nan
        return value

    def _step(self):
        opt = getattr(self.model, "g_optimizer", None) or getattr(self.model, "optimizer", None)
        return None if opt is None else int(np.asarray(keras.ops.convert_to_numpy(opt.iterations)))

    def on_epoch_end(self, epoch, logs=None):
        from kerasgan.callbacks.metric_monitor import due

        logs = logs if logs is not None else {}
        if not due(epoch, self.every_n_epochs, self._epochs):
            logs[self.log_name] = math.nan
            return
        value = self.measure()
        logs[self.log_name] = value
        self.values.append((epoch + 1, value))
        what = ("ratio to real images; ~1 is as varied as the data" if self.reference is not None
                else "raw: mean pairwise RMS distance in [-1, 1] pixels")
        step = self._step()
        warm = step is None or step >= self.warmup_steps
        if self.warn_below is not None and warm and value < self.warn_below:
            warnings.warn(
                f"possible mode collapse at epoch {epoch + 1} (step {step}): sample diversity "
                f"{value:.3f} ({what}) is below {self.warn_below:g}; the {self.n} fixed samples "
                "are nearly alike: look at the sample grid",
                ModeCollapseWarning, stacklevel=2)
        elif (self.drop_fraction is not None and self.best is not None
              and value < self.drop_fraction * self.best):
            warnings.warn(
                f"possible mode collapse at epoch {epoch + 1} (step {step}): sample diversity "
                f"{value:.3f} ({what}) fell below {self.drop_fraction:g} x its best so far "
                f"({self.best:.3f}): look at the sample grid",
                ModeCollapseWarning, stacklevel=2)
        if self.best is None or value > self.best:
            self.best = value


class OverfittingWarning(UserWarning):
    """The discriminator tells the training images apart too well: it over-fits."""


class Overfitting(keras.callbacks.Callback):
    """An over-fitting signal: warns when ``r_t = E[sign(D(real))]`` (the
    ``r_t`` log of every image family, an epoch mean) stays high.

    A discriminator that has memorised the training set gives nearly every
    real image a positive logit (``r_t`` → 1) while its fakes are judged
    fake: the generator then learns little, and quality gets worse with more
    training (Karras et al. 2020, who steer ADA's ``p`` to keep ``r_t`` at
    0.6). It warns with :class:`OverfittingWarning` (once per ``fit``) when
    ``r_t`` is at least ``warn_above`` for ``patience`` epochs in a row,
    after ``warmup_steps`` generator steps, saying what to do: train with
    ``augment="ada"`` or ``"diffaugment"`` (or, when ADA's ``p`` is already
    near 1, with more data or a smaller discriminator).

    Args:
        warn_above: the threshold (default :data:`DEFAULT_RT_WARN_ABOVE`).
        patience: consecutive epochs at or above it.
        warmup_steps: generator steps before it can warn.
        log_name: the log key of ``r_t``.

    Attributes:
        warned_at: the 1-based epoch of the warning, or None.
    """

    def __init__(self, warn_above=DEFAULT_RT_WARN_ABOVE, patience=3,
                 warmup_steps=DEFAULT_WARMUP_STEPS, log_name="r_t"):
        super().__init__()
        if not 0.0 < float(warn_above) <= 1.0:
            raise ValueError(f"warn_above must be in (0, 1], got {warn_above}")
        self.warn_above = float(warn_above)
        self.patience = max(1, int(patience))
        self.warmup_steps = int(warmup_steps or 0)
        self.log_name = log_name
        self.warned_at = None
        self._streak = 0

    def on_train_begin(self, logs=None):
        self._streak = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.log_name)
        if value is None or not math.isfinite(float(value)):
            return
        opt = getattr(self.model, "g_optimizer", None)
        step = None if opt is None else int(opt.iterations.numpy())
        if step is not None and step < self.warmup_steps:
            return
        self._streak = self._streak + 1 if float(value) >= self.warn_above else 0
        if self._streak < self.patience or self.warned_at is not None:
            return
        self.warned_at = epoch + 1
        p = logs.get("aug_p")
        if p is not None and float(p) >= 0.95:
            advice = (f"ADA's p is already {float(p):.2f}: use more data or a smaller "
                      "discriminator")
        elif p is not None:
            advice = "ADA is on and raising p; if r_t stays high, lower its target"
        else:
            advice = ("train with augment='ada' or 'diffaugment' (kerasgan train --augment ada), "
                      "or use more data")
        warnings.warn(
            f"the discriminator is over-fitting at epoch {epoch + 1} (step {step}): r_t = "
            f"E[sign(D(real))] = {float(value):.3f}, at least {self.warn_above:g} for "
            f"{self.patience} epochs: it tells the training images apart from everything "
            f"else; {advice} (docs/augmentation.md)", OverfittingWarning, stacklevel=2)
