"""Generator input specs and the one rule that turns a seed into generator inputs.

Every generator input is described by a spec (a plain dict, so it can travel as
JSON in an exported model's metadata)::

    {"name": "z", "shape": [100], "dtype": "float32", "sampler": "normal"}
    {"name": "labels", "shape": [], "dtype": "int32", "sampler": "labels",
     "num_classes": 10}

``sampler`` says how the input is drawn: ``"normal"`` (standard normal) or
``"labels"`` (class indices in ``[0, num_classes)``, or given by the caller).

The seed rule, shared by :meth:`kerasgan.GAN.generate` and the TensorFlow-free
deployment kit in ``export/``: one ``numpy.random.default_rng(seed)``; the
inputs are drawn in spec order, each as one call for the whole batch
(``standard_normal((n, *shape))``, ``integers(0, num_classes, (n, *shape))``);
inputs given by the caller (labels) consume no draws. So a seed gives the same
images in Keras, in a SavedModel and in ONNX Runtime on any machine.
"""

import numpy as np

SAMPLERS = ("normal", "labels")


def infer_input_specs(model, num_classes=None):
    """Specs for a Keras generator's inputs, read from its ``inputs``.

    A floating input is a ``"normal"`` latent; an integer input is ``"labels"``
    and needs ``num_classes``.

    Raises:
        ValueError: an integer input without ``num_classes``, or an input whose
            kind cannot be told from its dtype.
    """
    specs = []
    for tensor in model.inputs:
        name = tensor.name.split(":")[0]
        shape = [int(d) for d in tensor.shape[1:]]
        if any(d is None for d in tensor.shape[1:]):
            raise ValueError(
                f"generator input {name!r} has an unknown non-batch dimension "
                f"{tuple(tensor.shape)}: give it a fixed shape"
            )
        dtype = str(tensor.dtype)
        if "float" in dtype:
            specs.append({"name": name, "shape": shape, "dtype": "float32", "sampler": "normal"})
        elif "int" in dtype:
            if not num_classes:
                raise ValueError(
                    f"generator input {name!r} is integer (class labels): pass num_classes"
                )
            specs.append({"name": name, "shape": shape, "dtype": "int32", "sampler": "labels",
                          "num_classes": int(num_classes)})
        else:
            raise ValueError(f"generator input {name!r} has dtype {dtype}: expected float or int")
    return specs


def check_labels(labels, n, num_classes, shape=()):
    """Validates class labels and broadcasts a scalar to ``(n, *shape)`` int32.

    Raises:
        ValueError: not integers, out of ``[0, num_classes)``, or the wrong count.
    """
    arr = np.asarray(labels)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype("int64")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers, got {arr.dtype} values")
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(
            f"labels must be in [0, {num_classes}), got values from {arr.min()} to {arr.max()}"
        )
    target = (n, *shape)
    if arr.ndim == 0:
        return np.full(target, int(arr), dtype="int32")
    if arr.shape[0] != n:
        raise ValueError(f"got {arr.shape[0]} labels for {n} images: give one label or {n}")
    return np.broadcast_to(arr.reshape((n,) + (1,) * len(shape)), target).astype("int32")


def draw_inputs(specs, n, seed=None, labels=None):
    """Generator inputs for ``n`` images under the seed rule (module docstring).

    Args:
        specs: input specs.
        n: batch size.
        seed: integer seed (None: fresh randomness).
        labels: class labels for a ``"labels"`` input: one int for all images, or
            ``n`` ints; drawn uniformly when None.

    Returns:
        A list of numpy arrays in spec order.
    """
    n = int(n)
    rng = np.random.default_rng(seed)
    has_labels = any(s["sampler"] == "labels" for s in specs)
    if labels is not None and not has_labels:
        raise ValueError("this generator is unconditional: it takes no labels")
    out = []
    for spec in specs:
        shape = (n, *spec["shape"])
        if spec["sampler"] == "normal":
            out.append(rng.standard_normal(shape).astype(spec["dtype"]))
        elif spec["sampler"] == "labels":
            if labels is None:
                out.append(rng.integers(0, spec["num_classes"], shape).astype("int32"))
            else:
                out.append(check_labels(labels, n, spec["num_classes"], tuple(spec["shape"])))
        else:
            raise ValueError(f"unknown sampler {spec['sampler']!r} in input {spec['name']!r}")
    return out
