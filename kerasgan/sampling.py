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
    {"name": "inputs", "shape": [null, null, 3], "dtype": "float32", "sampler": "image",
     "low": -1.0, "high": 1.0, "default_shape": [256, 256, 3], "size_multiple": 256}

``sampler`` says how the input is drawn:

- ``"normal"``: standard normal;
- ``"labels"``: class labels in ``[0, num_classes)``, drawn uniformly or given by
  the caller (``labels=``);
- ``"categorical"``: an unsupervised categorical code in ``[0, num_classes)``
  (information-maximising codes), drawn uniformly or given by the caller (``codes=``);
- ``"uniform"``: uniform in ``[low, high)`` (continuous latent codes);
- ``"fixed"``: not random: ``value`` unless the caller gives it (``codes=``),
  e.g. a ``truncation_psi`` (1.0: no truncation). It draws nothing,
  so adding such an input leaves the images of every seed as they were;
- ``"image"``: an input image of an image-conditioned generator,
  NHWC in ``[low, high]``. Its ``shape`` may hold ``None`` (JSON ``null``) for
  a dynamic height / width, which must then be multiples of
  ``size_multiple`` (and at least ``min_size`` when the spec has one);
  ``default_shape`` is the size it was trained at. The
  caller gives the images (``codes={"inputs": x}``); when not given, uniform
  noise images of ``default_shape`` are drawn (``uniform(low, high, (n,
  *default_shape))``): what export parity checks and smoke tests use, not a
  meaningful translation.

The seed rule, shared by :meth:`kerasgan.GAN.generate` and the TensorFlow-free
deployment kit in ``export/``: one ``numpy.random.default_rng(seed)``; the
inputs are drawn in spec order, each as one call for the whole batch
(``standard_normal((n, *shape))``, ``integers(0, num_classes, (n, *shape))``,
``uniform(low, high, (n, *shape))``); inputs given by the caller (labels,
codes) and ``"fixed"`` inputs consume no draws. So a seed gives the same images in Keras, in a
SavedModel and in ONNX Runtime on any machine.
"""

import numpy as np

from kerasgan.utils import is_int

SAMPLERS = ("normal", "labels", "categorical", "uniform", "fixed", "image")

#: float inputs recognised by name as input images (an ``"image"`` spec).
IMAGE_INPUTS = ("inputs",)

#: float inputs that are settings, not latents, recognised by name with shape
#: ``()``: ``{name: default value}`` (a ``"fixed"`` spec).
FIXED_INPUTS = {"truncation_psi": 1.0}


def infer_input_specs(model, num_classes=None, image_shape=None, size_multiple=1,
                      min_size=None):
    """Specs for a Keras generator's inputs, read from its ``inputs``.

    A floating input is a ``"normal"`` latent, except a scalar one named in
    :data:`FIXED_INPUTS` (``truncation_psi``), which is ``"fixed"`` at its
    default, and an ``(H, W, C)`` one named in :data:`IMAGE_INPUTS`
    (``inputs``), which is an ``"image"`` input; an integer input is
    ``"labels"`` and needs ``num_classes``.

    Args:
        model: the generator.
        num_classes: number of classes of a ``"labels"`` input.
        image_shape: ``(H, W, C)`` default size of an ``"image"`` input
            whose height and width are dynamic (``None``).
        size_multiple: what a dynamic height and width must be multiples of.
        min_size: smallest dynamic height and width the network takes, when
            more than ``size_multiple`` (a ResNet with two down-samplings: twice it); recorded
            as the spec's ``"min_size"`` (absent otherwise).

    Raises:
        ValueError: an integer input without ``num_classes``, an input with a
            dynamic dimension (other than an image input's height and width
            with ``image_shape``), or an input whose kind cannot be told from
            its dtype.
    """
    specs = []
    for tensor in model.inputs:
        name = tensor.name.split(":")[0]
        dims = list(tensor.shape[1:])
        dtype = str(tensor.dtype)
        if "float" in dtype and name in IMAGE_INPUTS and len(dims) == 3:
            if dims[-1] is None:
                raise ValueError(f"image input {name!r} has an unknown channel count: fix it")
            shape = [None if d is None else int(d) for d in dims]
            if None in shape and image_shape is None:
                raise ValueError(
                    f"image input {name!r} has a dynamic size {tuple(tensor.shape)}: pass "
                    "image_shape (the size it was trained at)")
            default = ([int(d) for d in image_shape[:2]] + [shape[-1]] if None in shape
                       else shape)
            spec = {"name": name, "shape": shape, "dtype": "float32", "sampler": "image",
                    "low": -1.0, "high": 1.0, "default_shape": default,
                    "size_multiple": int(size_multiple)}
            if min_size and int(min_size) > int(size_multiple):
                spec["min_size"] = int(min_size)
            specs.append(spec)
            continue
        if any(d is None for d in dims):
            raise ValueError(
                f"generator input {name!r} has an unknown non-batch dimension "
                f"{tuple(tensor.shape)}: give it a fixed shape"
            )
        shape = [int(d) for d in dims]
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


def check_image(value, spec, n=None):
    """Validates input images for an ``"image"`` spec: float NHWC (one image
    ``(H, W, C)`` is a batch of one) of the spec's channels, with height and
    width as the spec fixes them or multiples of ``size_multiple``, values
    in ``[low, high]``. Returns float32 ``(n, H, W, C)``.

    Raises:
        ValueError: the wrong rank, channels, size, count, dtype or range.
    """
    name = spec["name"]
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"input {name!r} must be float images, got {arr.dtype} values")
    if arr.dtype == np.uint8:
        raise ValueError(f"input {name!r} must be floats in [{spec['low']}, {spec['high']}], "
                         "got uint8 pixels: scale them with x / 127.5 - 1")
    if arr.ndim == 3:
        arr = arr[None]
    shape = spec["shape"]
    if arr.ndim != 4:
        raise ValueError(f"input {name!r} must be NHWC images (batch, H, W, {shape[-1]}), "
                         f"got shape {arr.shape}")
    if arr.shape[-1] != shape[-1]:
        raise ValueError(
            f"input {name!r} must have {shape[-1]} channels (NHWC), got {arr.shape[-1]} "
            f"(shape {arr.shape})" + (": channels first? transpose to NHWC"
                                      if arr.shape[1] == shape[-1] else ""))
    multiple = int(spec.get("size_multiple") or 1)
    for axis, what in ((0, "height"), (1, "width")):
        size, fixed = arr.shape[1 + axis], shape[axis]
        if fixed is not None and size != fixed:
            raise ValueError(f"input {name!r} must be {shape[0]}x{shape[1]} pixels, got "
                             f"{arr.shape[1]}x{arr.shape[2]}: resize the images")
        minimum = max(multiple, int(spec.get("min_size") or 1))
        if fixed is None and (size < minimum or size % multiple):
            at_least = f", at least {minimum}," if minimum > multiple else ""
            raise ValueError(
                f"input {name!r} has {what} {size}: this network takes heights and widths "
                f"that are multiples of {multiple}{at_least} (e.g. {spec['default_shape'][0]}); "
                "resize or pad the images")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"got {arr.shape[0]} images in {name!r} for {n} outputs")
    arr = arr.astype("float32")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"input {name!r} has NaN or Inf values")
    if arr.size and (arr.min() < spec["low"] - 1e-3 or arr.max() > spec["high"] + 1e-3):
        raise ValueError(
            f"input {name!r} must be in [{spec['low']:g}, {spec['high']:g}], got values from "
            f"{arr.min():.3g} to {arr.max():.3g}: scale pixels with x / 127.5 - 1")
    return arr


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
    if spec["sampler"] == "image":
        return check_image(value, spec, n)
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
    if not values or any(not is_int(v) or v < 0 for v in values):
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
            ``c_cat`` / ``c_cont`` codes, a ``truncation_psi``): one
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
        shape = (n, *spec.get("default_shape", spec["shape"]))
        sampler = spec["sampler"]
        if spec["name"] in codes:
            out.append(check_code(codes[spec["name"]], n, spec))
        elif sampler == "normal":
            out.append(rng.standard_normal(shape).astype(spec["dtype"]))
        elif sampler == "labels" and labels is not None:
            out.append(check_labels(labels, n, spec["num_classes"], tuple(spec["shape"])))
        elif sampler in ("labels", "categorical"):
            out.append(rng.integers(0, spec["num_classes"], shape).astype("int32"))
        elif sampler in ("uniform", "image"):
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
        shape = (batch_size, *spec.get("default_shape", spec["shape"]))
        sampler = spec["sampler"]
        if sampler == "normal":
            out.append(keras.random.normal(shape, seed=seed_generator))
        elif sampler in ("labels", "categorical"):
            out.append(keras.random.randint(shape, 0, spec["num_classes"], dtype="int32",
                                            seed=seed_generator))
        elif sampler in ("uniform", "image"):
            out.append(keras.random.uniform(shape, spec["low"], spec["high"],
                                            seed=seed_generator))
        elif sampler == "fixed":
            out.append(keras.ops.full(shape, spec["value"], dtype=spec["dtype"]))
        else:
            raise ValueError(f"unknown sampler {sampler!r} in input {spec['name']!r}")
    return out


# ----------------------------------------------------------- token sequences
def sequence_uniforms(n, seq_len, seed=None):
    """The uniforms that pick the tokens of ``n`` sequences: the seed rule of
    the token-sequence kind (``generate`` and the deployment kit): one
    ``numpy.random.default_rng(seed).random((n, seq_len))`` (float64), row
    ``i`` for sequence ``i``, so sequence ``i`` of a seed is the same whatever
    ``n`` and the batch size."""
    return np.random.default_rng(check_seed(seed)).random((int(n), int(seq_len)))


def check_temperature(temperature):
    """A sampling temperature: a finite number > 0.

    Raises:
        ValueError: one line saying what to pass.
    """
    try:
        value = float(temperature)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(temperature, bool) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"temperature must be a number > 0 (1.0 samples the model as "
                         f"trained, lower is more conservative), got {temperature!r}")
    return value


def pick_tokens(logits, u, temperature=1.0):
    """Tokens picked from ``logits`` ``(n, V)`` by the uniforms ``u`` ``(n,)``:
    the first token whose cumulative probability under
    ``softmax(logits / temperature)`` (float64) exceeds ``u`` times the total
    (the inverse CDF; the same rule as the in-graph
    :func:`kerasgan.core.tf_sequence.pick`)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    cdf = np.cumsum(p, axis=-1)
    thr = np.asarray(u, dtype=np.float64) * cdf[:, -1]
    idx = (cdf <= thr[:, None]).sum(axis=-1)
    return np.minimum(idx, z.shape[-1] - 1).astype(np.int32)
