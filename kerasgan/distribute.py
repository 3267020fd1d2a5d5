"""Distribution helpers: where this replica's examples sit in the global batch.

The training step of every family, and the layers that draw randomness for the
global batch (:class:`kerasgan.layers.GlobalBatchDropout`,
:class:`kerasgan.layers.ImagePool`), read the batch layout from here, so that a
``MirroredStrategy`` run over N replicas makes the same draws, and the same
update, as one device on the same global batch:

- :func:`batch_layout`: this replica's offset in the global batch, and the
  global batch size (a batch need not split evenly over the replicas);
- :func:`local_slice`: this replica's slice of a draw made for the global batch;
- :func:`global_sum`, :func:`all_gather`: cross-replica sum and concatenation
  (the identity on one device);
- :func:`is_multi_worker`: a ``MultiWorkerMirroredStrategy`` over several
  workers (whose log reduction needs a workaround, see
  :meth:`kerasgan.core.AdversarialModel._step_logs`).

This module is, with :mod:`kerasgan.core.tf_step` (which imports it), the
TensorFlow-specific part of the training core: it uses ``tf.distribute``'s
replica context. A step for another Keras 3 backend would add its own
versions of these functions next to these. It sits low in the import order
(``errors/utils → distribute → layers ...``): it imports nothing of kerasgan.
"""

import tensorflow as tf

__all__ = [
    "all_gather",
    "batch_layout",
    "batch_size",
    "global_sum",
    "is_multi_worker",
    "local_slice",
    "num_replicas",
]


def _replica_context():
    """The replica context of a step running on several replicas, else None."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return None
    return ctx


def num_replicas():
    """Replicas of the current step (1 outside a strategy or on one device)."""
    ctx = _replica_context()
    return 1 if ctx is None else ctx.num_replicas_in_sync


def batch_size(x):
    """The (dynamic) number of examples of a batch tensor ``x``: an int32 scalar."""
    return tf.shape(x)[0]


def batch_layout(local_batch):
    """This replica's offset in the global batch, and the global batch size.

    Args:
        local_batch: this replica's number of examples (an int32 scalar tensor,
            e.g. :func:`batch_size`).

    Returns:
        ``(offset, global_batch)``: ``(0, local_batch)`` on one device.
    """
    ctx = _replica_context()
    if ctx is None:
        return tf.constant(0, tf.int32), local_batch
    # Every replica learns every replica's batch size (a batch need not split
    # evenly): one all-reduce of a one-hot vector of sizes.
    replica = ctx.replica_id_in_sync_group
    one_hot = tf.one_hot(replica, ctx.num_replicas_in_sync, dtype=tf.float32)
    sizes = ctx.all_reduce("sum", one_hot * tf.cast(local_batch, tf.float32))
    sizes = tf.cast(tf.round(sizes), tf.int32)
    offset = tf.reduce_sum(sizes[:replica])
    return offset, tf.reduce_sum(sizes)


def local_slice(value, offset, local_batch):
    """This replica's rows ``[offset, offset + local_batch)`` of a draw made for
    the global batch; ``value`` may be a tensor or a (nested) list, tuple or dict."""
    if isinstance(value, (list, tuple)):
        return type(value)(local_slice(v, offset, local_batch) for v in value)
    if isinstance(value, dict):
        return {k: local_slice(v, offset, local_batch) for k, v in value.items()}
    return value[offset : offset + local_batch]


def global_sum(value):
    """Sum of ``value`` over the replicas (``value`` itself on one device)."""
    ctx = _replica_context()
    if ctx is None:
        return value
    return ctx.all_reduce("sum", value)


def all_gather(value, axis=0):
    """Every replica's ``value`` concatenated along ``axis``, in replica order
    (``value`` itself on one device)."""
    ctx = _replica_context()
    if ctx is None:
        return value
    return ctx.all_gather(value, axis=axis)


def is_multi_worker(strategy):
    """True for a ``MultiWorkerMirroredStrategy`` spanning several workers."""
    extended = getattr(strategy, "extended", None)
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and bool(getattr(extended, "_in_multi_worker_mode", lambda: False)()))
