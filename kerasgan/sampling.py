"""Generator input specs and the one rule that turns a seed into generator inputs.

Every generator input is described by a spec (a plain dict, so it can travel as
JSON in an exported model's metadata)::

    {"name": "z", "shape": [100], "dtype": "float32", "sampler": "normal"}
    {"name": "labels", "shape": [], "dtype": "int32", "sampler": "labels",
     "num_classes": 10}

    {"name": "c_cat", "shape": [], "dtype": "int32", "sampler": "categorical",
     "num_classes": 10}
    {"name": "c_cont", "shape": [2], "dtype": "float32", "sampler": "uniform",
     "low": -1.0, "high": 1.0}
    {"name": "truncation_psi", "shape": [], "dtype": "float32", "sampler": "fixed",
     "value": 1.0}

``sampler`` says how the input is drawn:

- ``"normal"``: standard normal;
- ``"labels"``: class labels in ``[0, num_classes)``, drawn uniformly or given by
  the caller (``labels=``);
- ``"categorical"``: an unsupervised categorical code in ``[0, num_classes)``
  (InfoGAN), drawn uniformly or given by the caller (``codes=``);
- ``"uniform"``: uniform in ``[low, high)`` (InfoGAN's continuous codes);
- ``"fixed"``: not random: ``value`` unless the caller gives it (``codes=``),
  e.g. StyleGAN2's ``truncation_psi`` (1.0: no truncation). It draws nothing,
  so adding such an input leaves the images of every seed as they were.

The seed rule, shared by :meth:`kerasgan.GAN.generate` and the TensorFlow-free
deployment kit in ``export/``: one ``numpy.random.default_rng(seed)``; the
inputs are drawn in spec order, each as one call for the whole batch
(``standard_normal((n, *shape))``, ``integers(0, num_classes, (n, *shape))``,
``uniform(low, high, (n, *shape))``); inputs given by the caller (labels,
codes) and ``"fixed"`` inputs consume no draws. So a seed gives the same images in Keras, in a
SavedModel and in ONNX Runtime on any machine.
"""

import numpy as np

SAMPLERS = ("normal", "labels", "categorical", "uniform", "fixed")

#: float inputs that are settings, not latents, recognised by name with shape
#: ``()``: ``{name: default value}`` (a ``"fixed"`` spec).
FIXED_INPUTS = {"truncation_psi": 1.0}


def infer_input_specs(model, num_classes=None):
    """Specs for a Keras generator's inputs, read from its ``inputs``.

    A floating input is a ``"normal"`` latent, except a scalar one named in
    :data:`FIXED_INPUTS` (``truncation_psi``), which is ``"fixed"`` at its
    default; an integer input is ``"labels"`` and needs ``num_classes``.

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
        if "float" in dtype and name in FIXED_INPUTS and not shape:
            specs.append({"name": name, "shape": shape, "dtype": "float32", "sampler": "fixed",
                          "value": float(FIXED_INPUTS[name])})
        elif "float" in dtype:
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
    if arr.size != arr.shape[0]:
        raise ValueError(
            f"labels must be one class id per image, shape ({n},), got shape {arr.shape}: "
            "pass class ids, not one-hot vectors (argmax them)"
        )
    if arr.shape[0] != n:
        raise ValueError(f"got {arr.shape[0]} labels for {n} images: give one label or {n}")
    return np.broadcast_to(arr.reshape((n,) + (1,) * len(shape)), target).astype("int32")


def resolve_labels(labels, num_classes, family="this model"):
    """The ``labels`` argument of a public ``generate``: a class-conditional
    model needs labels (one for all images, ``n`` of them, or ``"random"`` to
    draw them uniformly from the seed). Returns what :func:`draw_inputs` takes
    (None for random).

    Raises:
        ValueError: labels missing for a conditional model, or a string other
            than ``"random"``.
    """
    if isinstance(labels, str):
        if labels != "random":
            raise ValueError(f"labels must be class ids or 'random', got {labels!r}")
        if not num_classes:
            raise ValueError(f"{family} is unconditional: it takes no labels")
        return None
    if num_classes and labels is None:
        raise ValueError(
            f"{family} is class-conditional: pass labels= (one class in "
            f"[0, {num_classes}) for all images, or one per image), or labels='random' "
            "to draw them uniformly from the seed"
        )
    return labels


def check_code(value, n, spec):
    """Validates a caller-given value for input ``spec`` and broadcasts it to
    ``(n, *shape)``: one value (scalar, or one ``shape``-sized vector) for all
    images, or ``n`` of them.

    Raises:
        ValueError: wrong dtype, range or count.
    """
    shape = tuple(spec["shape"])
    name = spec["name"]
    if spec["sampler"] in ("labels", "categorical"):
        try:
            return check_labels(value, n, spec["num_classes"], shape)
        except ValueError as e:
            raise ValueError(f"input {name!r}: {e}") from None
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"input {name!r} must be numbers, got {arr.dtype} values")
    arr = arr.astype("float32")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"input {name!r} has NaN or Inf values")
    if arr.shape == shape or arr.ndim == 0:
        return np.broadcast_to(arr, (n, *shape)).astype("float32").copy()
    if arr.shape == (n, *shape):
        return arr
    raise ValueError(
        f"input {name!r} must have shape {shape} (one for all images) or {(n, *shape)}, "
        f"got {arr.shape}"
    )


def check_seed(seed):
    """Validates a seed for ``numpy.random.default_rng``: None, an integer >= 0, or
    a non-empty list or tuple of them (e.g. ``[seed, batch]``). Returns it unchanged.

    Raises:
        ValueError: anything else (a negative number, a float, a string, a bool).
    """
    if seed is None:
        return None
    values = list(seed) if isinstance(seed, (list, tuple)) else [seed]
    if not values or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer))
                         or v < 0 for v in values):
        raise ValueError(f"seed must be an integer >= 0 or None, got {seed!r}")
    return seed


def draw_inputs(specs, n, seed=None, labels=None, codes=None):
    """Generator inputs for ``n`` images under the seed rule (module docstring).

    Args:
        specs: input specs.
        n: batch size.
        seed: integer seed (None: fresh randomness).
        labels: class labels for a ``"labels"`` input: one int for all images, or
            ``n`` ints; drawn uniformly when None.
        codes: optional dict ``{input name: value}`` fixing other inputs (e.g.
            InfoGAN's ``c_cat`` / ``c_cont``, StyleGAN2's ``truncation_psi``): one
            value for all images or ``n``.

    Returns:
        A list of numpy arrays in spec order.
    """
    n = int(n)
    rng = np.random.default_rng(check_seed(seed))
    codes = dict(codes or {})
    has_labels = any(s["sampler"] == "labels" for s in specs)
    if labels is not None and not has_labels:
        raise ValueError("this generator is unconditional: it takes no labels")
    names = [s["name"] for s in specs]
    unknown = sorted(set(codes) - set(names))
    if unknown:
        raise ValueError(f"unknown generator input(s) {unknown}: the inputs are {names}")
    out = []
    for spec in specs:
        shape = (n, *spec["shape"])
        sampler = spec["sampler"]
        if spec["name"] in codes:
            out.append(check_code(codes[spec["name"]], n, spec))
        elif sampler == "normal":
            out.append(rng.standard_normal(shape).astype(spec["dtype"]))
        elif sampler == "labels" and labels is not None:
            out.append(check_labels(labels, n, spec["num_classes"], tuple(spec["shape"])))
        elif sampler in ("labels", "categorical"):
            out.append(rng.integers(0, spec["num_classes"], shape).astype("int32"))
        elif sampler == "uniform":
            out.append(rng.uniform(spec["low"], spec["high"], shape).astype(spec["dtype"]))
        elif sampler == "fixed":
            out.append(np.full(shape, spec["value"], dtype=spec["dtype"]))
        else:
            raise ValueError(f"unknown sampler {sampler!r} in input {spec['name']!r}")
    return out


def draw_tensors(specs, batch_size, seed_generator):
    """The training-time counterpart of :func:`draw_inputs`: the same
    distributions drawn with ``keras.random`` from a ``SeedGenerator`` (inside a
    ``tf.function``), for ``batch_size`` examples, in spec order."""
    import keras

    out = []
    for spec in specs:
        shape = (batch_size, *spec["shape"])
        sampler = spec["sampler"]
        if sampler == "normal":
            out.append(keras.random.normal(shape, seed=seed_generator))
        elif sampler in ("labels", "categorical"):
            out.append(keras.random.randint(shape, 0, spec["num_classes"], dtype="int32",
                                            seed=seed_generator))
        elif sampler == "uniform":
            out.append(keras.random.uniform(shape, spec["low"], spec["high"],
                                            seed=seed_generator))
        elif sampler == "fixed":
            out.append(keras.ops.full(shape, spec["value"], dtype=spec["dtype"]))
        else:
            raise ValueError(f"unknown sampler {sampler!r} in input {spec['name']!r}")
    return out
