"""`predict`: inference over arrays, correct for a model built under a strategy."""

import numpy as np

from kerasgan.core import tf_step

__all__ = ["predict"]


def predict(model, inputs, batch_size=256):
    """Runs ``model`` in inference mode over ``inputs``, ``batch_size`` at a time.

    Not ``predict_on_batch``: on a model built under ``MirroredStrategy`` that
    runs the whole batch on every replica and returns N copies of it. A
    compiled function called in the cross-replica context reads the (mirrored)
    weights once and returns exactly one output per input
    (:func:`kerasgan.core.tf_step.inference_function`).

    Args:
        model: a Keras model.
        inputs: an array, or a list of arrays for a multi-input model.
        batch_size: examples per call.

    Returns:
        float32 numpy array.
    """
    fn = tf_step.inference_function(model)
    multi = isinstance(inputs, (list, tuple))
    n = len(inputs[0] if multi else inputs)
    out = []
    for start in range(0, n, batch_size):
        if multi:
            chunk = [tf_step.to_tensor(x[start : start + batch_size]) for x in inputs]
        else:
            chunk = tf_step.to_tensor(inputs[start : start + batch_size])
        out.append(np.asarray(fn(chunk), dtype="float32"))
    return np.concatenate(out, axis=0)
