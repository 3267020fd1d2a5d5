"""The TensorFlow side of the training core: tapes, updates, in-graph checks.

Every direct TensorFlow call of the adversarial training step sits here or in
:mod:`kerasgan.distribute` (replica context, all-reduce, batch layout), which
this module re-exports; the model classes of :mod:`kerasgan.core` and the
families call these functions instead of ``tf.GradientTape`` or
``tf.distribute``. A train step for another Keras 3 backend (JAX's
``stateless_call`` and ``jax.grad``, say) would add its own versions of
:func:`minimize` and :func:`conditional_gradients` next to these, with the
same signatures. (:mod:`kerasgan.penalties` keeps its own tapes: they take
gradients with respect to the *inputs*.)

The one update helper, :func:`minimize`, is what every family's step uses::

    logs = tf_step.minimize(optimizer, variables, loss_fn, global_batch, ema=...)

It runs ``loss_fn`` under a tape, divides the summed per-example loss by the
**global** batch size (so N replicas, whose gradients are all-reduced by sum,
make the update of one device on the same global batch), scales the loss
(``optimizer.scale_loss``: a ``LossScaleOptimizer``'s dynamic scale, or a
static ``loss_scale_factor``; ``apply`` unscales the gradients), takes the
gradients of ``variables``, adds any extra gradients, applies them, and runs
the EMA update when asked.
"""

import re
import weakref

import tensorflow as tf

from kerasgan.distribute import (  # noqa: F401  (re-exported: the step's one import)
    all_gather,
    batch_layout,
    batch_size,
    global_sum,
    is_multi_worker,
    local_slice,
    num_replicas,
)

__all__ = [
    "Recording",
    "InputCheckError",
    "add_gradients",
    "add_n",
    "all_gather",
    "assert_in_range",
    "assert_less",
    "assert_equal",
    "ensure_shape",
    "shape_of",
    "assert_non_negative",
    "batch_layout",
    "batch_size",
    "bad_batch_message",
    "clip_global",
    "conditional_gradients",
    "enclosing_graph_value",
    "every",
    "float32",
    "global_sum",
    "guarded",
    "inference_function",
    "is_tensor",
    "input_check",
    "is_multi_worker",
    "local_slice",
    "minimize",
    "num_replicas",
    "static_shape",
    "to_tensor",
]


class Recording:
    """The handle :func:`minimize` passes to its ``loss_fn``: ``paused()``
    suspends the recording of the update's tape, for work inside ``loss_fn``
    that is not part of this update (the paired and super-resolution families update the
    discriminator between the generator's forward pass and its loss)."""

    def __init__(self, tape):
        self._tape = tape

    def paused(self):
        """A context in which the update's tape records nothing."""
        return self._tape.stop_recording()


def minimize(optimizer, variables, loss_fn, global_batch, *, extra_gradients=None, ema=None):
    """One optimizer update of ``variables`` on the loss of ``loss_fn``.

    Args:
        optimizer: a Keras optimizer (a ``LossScaleOptimizer`` under
            ``mixed_float16``), built on ``variables``.
        variables: the variables to update (one network's trainable
            variables, or several networks' for a family with two generators).
        loss_fn: ``loss_fn(recording) -> (per_example_loss, aux)``, called
            under the update's tape: the per-example loss of this replica's
            examples (float32, shape ``(local_batch,)``; already weighted and
            with every term added), and anything the caller wants back
            (losses to log, generated images). ``recording`` is a
            :class:`Recording` (most ``loss_fn`` ignore it).
        global_batch: the global batch size (``batch_layout(...)[1]``), the
            denominator of the mean loss.
        extra_gradients: optional ``fn(aux) -> gradients`` (one per variable),
            added to the loss's gradients before they are applied (lazy
            regularisers); called after the loss's gradients are taken.
        ema: optional callable run after the update (the generator EMA).

    Returns:
        ``aux``, as ``loss_fn`` returned it.
    """
    with tf.GradientTape() as tape:
        per_example, aux = loss_fn(Recording(tape))
        loss = tf.reduce_sum(per_example) / tf.cast(global_batch, tf.float32)
        loss = optimizer.scale_loss(loss)
    grads = tape.gradient(loss, variables)
    if extra_gradients is not None:
        grads = add_gradients(grads, extra_gradients(aux))
    grads = clip_global(optimizer, grads)
    optimizer.apply_gradients(zip(grads, variables))
    if ema is not None:
        ema()
    return aux


def clip_global(optimizer, grads):
    """Gradient clipping that means the same on N replicas as on one device.

    Keras clips (``clipnorm``, ``global_clipnorm``, ``clipvalue``) each
    replica's *local* gradients before it all-reduces them, so a mirrored run
    clips another vector than one device does on the same global batch. Under
    a strategy with several replicas this sums the gradients over the
    replicas first, clips the sum as the optimizer would, and hands the
    optimizer each replica's 1/N share of it (whose all-reduce gives back the
    clipped sum; the optimizer's own clipping of a share is then a no-op, as a
    share is within every bound). One device: the gradients, unchanged.
    """
    n = num_replicas()
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    global_norm, norm = getattr(inner, "global_clipnorm", None), getattr(inner, "clipnorm", None)
    value = getattr(inner, "clipvalue", None)
    if n == 1 or (global_norm is None and norm is None and value is None):
        return grads
    if inner is not optimizer:  # loss-scaled gradients: clip after unscaling
        scale = tf.cast(optimizer.dynamic_scale if optimizer.built else 1.0, tf.float32)
    else:
        scale = tf.constant(1.0)
    dense = [None if g is None else tf.convert_to_tensor(g) for g in grads]
    total = [None if g is None else global_sum(g) for g in dense]
    present = [g for g in total if g is not None]
    unscaled = [g / tf.cast(scale, g.dtype) for g in present]
    if value is not None:
        unscaled = [tf.clip_by_value(g, -value, value) for g in unscaled]
    if norm is not None:
        unscaled = [tf.clip_by_norm(g, norm) for g in unscaled]
    if global_norm is not None:
        unscaled, _ = tf.clip_by_global_norm(unscaled, global_norm)
    shares = iter([g * tf.cast(scale, g.dtype) / n for g in unscaled])
    return [None if g is None else next(shares) for g in total]


def enclosing_graph_value(cache, compute):
    """A value computed once per traced step function (and replica) and reused
    in the graphs nested in it (a ``tf.cond`` branch of a lazy regulariser), so
    that a collective (the all-reduce of :func:`batch_layout`) never runs inside
    a conditional branch, which ``MirroredStrategy`` refuses.

    ``cache`` is a dict owned by the caller; ``compute()`` makes the value.
    ``MirroredStrategy`` traces the step once per replica into one graph, so
    the value is kept per replica context. Outside a ``tf.function`` (eager)
    it is computed at every call."""
    if not tf.inside_function():
        return compute()
    graph = tf.compat.v1.get_default_graph()
    ctx = tf.distribute.get_replica_context()
    key = 0 if ctx is None else tf.get_static_value(ctx.replica_id_in_sync_group)
    if key is None:  # a replica id only known at run time: no reuse
        return compute()
    key = int(key)
    entry = cache.get(key)
    outer = graph
    while entry is not None and outer is not None:
        if entry[0] is outer:
            return entry[1]
        outer = getattr(outer, "outer_graph", None)
    value = compute()
    cache[key] = (graph, value)
    return value


def add_n(tensors):
    """The element-wise sum of a list of tensors (one op)."""
    return tf.add_n(tensors)


def static_shape(x):
    """The static shape of ``x`` as a tuple (None for an unknown dimension),
    or None when even the rank is unknown."""
    shape = x.shape
    if getattr(shape, "rank", 0) is None:
        return None
    return tuple(shape)


def add_gradients(grads, extra):
    """``grads + extra``, gradient by gradient."""
    return [g + e for g, e in zip(grads, extra)]


def conditional_gradients(due, regulariser, variables, optimizer, logged_shape):
    """The gradients of a lazy regulariser, computed only on due steps.

    ``regulariser()`` returns ``(loss, logged)``: the loss (already weighted,
    summed over this replica's examples and divided by the global count) and
    per-example values to log. Inside ``tf.cond`` the regulariser's forward and
    double-backward passes run only when ``due``; the branch returns its
    (loss-scaled) gradients, zeros otherwise, which the caller adds to the main
    loss's gradients (``minimize(..., extra_gradients=...)``). The conditional is
    never differentiated through, so XLA and mixed precision compile it as any
    other op.

    Returns:
        ``(gradients, logged)``, zeros when not due.
    """
    def run():
        with tf.GradientTape() as tape:
            loss, logged = regulariser()
            loss = optimizer.scale_loss(loss)
        grads = tape.gradient(loss, variables)
        grads = [tf.zeros(v.shape, v.dtype) if g is None else tf.cast(g, v.dtype)
                 for g, v in zip(grads, variables)]
        return [tf.cast(logged, tf.float32), *grads]

    def skip():
        return [tf.zeros(logged_shape, tf.float32),
                *[tf.zeros(v.shape, v.dtype) for v in variables]]

    out = tf.cond(due, run, skip)
    return out[1:], out[0]


def every(step, interval):
    """True (a bool tensor) when ``step`` (an optimizer's ``iterations``) is
    divisible by ``interval``: the due steps of a lazy regulariser."""
    return tf.equal(tf.math.floormod(tf.cast(step, tf.int64), tf.cast(interval, tf.int64)), 0)


def float32(value):
    """Floating tensors of a (nested) network output cast to float32: every
    loss is computed in float32 under mixed precision."""
    def cast(x):
        return tf.cast(x, tf.float32) if x.dtype.is_floating else x

    return tf.nest.map_structure(cast, value)


# --------------------------------------------------------- in-graph input checks
_INPUT_CHECK = "kerasgan input check:"

#: what a failed in-graph input check raises out of ``fit``
InputCheckError = tf.errors.InvalidArgumentError


def input_check(text):
    """An in-graph assertion message :func:`bad_batch_message` recognises."""
    return f"{_INPUT_CHECK} {text} |"


def bad_batch_message(error):
    """The text of the input check that failed in ``error`` (an
    :data:`InputCheckError`), or None when it is another error."""
    found = re.search(_INPUT_CHECK + r" (.*?) \|", str(error))
    return found.group(1) if found else None


def assert_in_range(peak, bound, text):
    """An assertion op: ``peak <= bound`` (False for NaN), else the input check ``text``."""
    return tf.debugging.assert_less_equal(peak, bound, message=input_check(text))


def assert_non_negative(x, text):
    """An assertion op: every ``x >= 0``, else the input check ``text``."""
    return tf.debugging.assert_non_negative(x, message=input_check(text))


def assert_less(x, bound, text):
    """An assertion op: every ``x < bound``, else the input check ``text``."""
    return tf.debugging.assert_less(x, bound, message=input_check(text))


def assert_equal(x, y, text):
    """An assertion op: ``x == y`` everywhere, else the input check ``text``."""
    return tf.debugging.assert_equal(x, y, message=input_check(text))


def shape_of(x, axis):
    """The dynamic size of ``x`` along ``axis`` (an int32 scalar)."""
    return tf.shape(x)[axis]


def ensure_shape(x, shape):
    """``x`` with its static shape set to ``shape`` (None: unknown); checked when it runs."""
    return tf.ensure_shape(x, shape)


def guarded(checks, *values):
    """``values`` (identities) that run only after the assertion ops ``checks``:
    one value gives one tensor, several a tuple."""
    with tf.control_dependencies(list(checks)):
        out = tuple(tf.identity(v) for v in values)
    return out[0] if len(out) == 1 else out


# --------------------------------------------------------------------- inference
_INFERENCE_FNS = weakref.WeakKeyDictionary()


def inference_function(model):
    """``x -> model(x, training=False)`` as a ``tf.function``, cached per model.

    Called in the cross-replica context it reads (mirrored) weights once and
    returns exactly one output per input (``predict_on_batch`` on a model built
    under ``MirroredStrategy`` returns N copies)."""
    fn = _INFERENCE_FNS.get(model)
    if fn is None:
        ref = weakref.ref(model)  # the cache must not keep the model alive
        fn = tf.function(lambda x: ref()(x, training=False), reduce_retracing=True,
                         autograph=False)
        _INFERENCE_FNS[model] = fn
    return fn


def is_tensor(x):
    """True for a tensor of the backend."""
    return tf.is_tensor(x)


def to_tensor(x):
    """``x`` as a tensor of the backend."""
    return tf.convert_to_tensor(x)


def without_autotune(ds):
    """``ds`` with tf.data's autotuning off, unless its ``autotune.enabled``
    option was set (then ``ds`` itself).

    Deleting an iterator whose pipeline is autotuned blocks until the
    autotuner's next wake-up: it wakes 10 ms, 20 ms, 40 ms... (doubling, at
    most 60 s) after the iterator started, so the end of ``fit`` (or of a
    loop over the dataset) stalls for up to the time the iterator has run,
    capped at a minute. Measured on TF 2.21: 6 of 10 ``fit`` calls ended
    0.35-4.9 s late with autotuning on, none with it off, at the same step
    speed. Without the autotuner, ``AUTOTUNE`` parallelism becomes
    TensorFlow's default (one call per core, at most 16) and prefetch
    buffers are still sized by the legacy autotuner."""
    if ds.options().autotune.enabled is not None:
        return ds
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)
