"""Run a kerasgan-exported ONNX generator with numpy, onnxruntime and Pillow alone.

No TensorFlow, Keras or kerasgan is needed (or imported) here: copy this folder
next to an ``.onnx`` file made by ``kerasgan export`` and::

    from onnx_generator import OnnxGenerator
    gen = OnnxGenerator("dcgan.onnx")
    gen.metadata["family"], gen.image_shape, gen.num_classes
    images = gen.generate(16, seed=3)          # float32 (16, H, W, C) in [-1, 1]
    gen.save_grid(images, "grid.png")

Seeds mean the same thing as in kerasgan: ``gen.generate(n, seed=s)`` returns
the images ``gan.generate(n, seed=s)`` returns in Keras (one
``numpy.random.default_rng(seed)``; inputs drawn in the order the metadata lists
them, one call per input for the whole batch; caller-given labels and codes, and
"fixed" inputs such as StyleGAN2's ``truncation_psi``, draw nothing).

An image-conditioned export (Pix2Pix) takes images and returns images::

    gen = OnnxGenerator("pix2pix.onnx")
    photos = gen.translate(label_maps)          # float32 NHWC in [-1, 1] -> same

(its height and width may differ from the training size when they are
multiples of the input's ``size_multiple``).

A StyleGAN2 export takes its truncation as an input::

    images = gen.generate(16, seed=3, truncation_psi=0.7)   # or codes={"truncation_psi": 0.7}

This file deliberately repeats small pieces of kerasgan (``check_labels``,
``check_code``, the labels rule of ``resolve_labels``, the grid and the atomic
write) instead of importing them: kerasgan needs TensorFlow. The tests check
that both give the same images, grids and errors.
"""

import io
import json
import math
import os
import tempfile

import numpy as np

#: the metadata layout this kit reads.
FORMAT = "kerasgan-generator/1"
#: metadata keys whose values are JSON.
JSON_KEYS = ("latent_dim", "num_classes", "image_shape", "value_range", "inputs", "outputs",
             "ema", "opset", "scale")
REQUIRED_KEYS = ("family", "image_shape", "inputs", "outputs")


class ModelError(ValueError):
    """The file is not a usable kerasgan ONNX generator; the message says why."""


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_metadata(session, path="model"):
    """The kerasgan metadata of an ``onnxruntime.InferenceSession``.

    Raises:
        ModelError: the model carries no (or unreadable) kerasgan metadata.
    """
    props = dict(session.get_modelmeta().custom_metadata_map)
    if props.get("format") != FORMAT:
        found = props.get("format")
        raise ModelError(
            f"{path} is an ONNX model but not a kerasgan generator export "
            f"(metadata format {found!r}, expected {FORMAT!r}): export it with "
            "`kerasgan export RUN --format onnx`"
        )
    missing = [k for k in REQUIRED_KEYS if k not in props]
    if missing:
        raise ModelError(f"{path}: kerasgan metadata lacks {', '.join(missing)}: export it again")
    meta = {}
    for key, value in props.items():
        if key in JSON_KEYS:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ModelError(f"{path}: metadata {key!r} is not valid JSON: export it again")
        meta[key] = value
    return meta


def check_labels(labels, n, num_classes, shape=()):
    """Validates class labels; a single label is used for all ``n`` images."""
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


def check_seed(seed):
    """Validates a seed (kerasgan.sampling.check_seed): None, an integer >= 0, or a
    non-empty list or tuple of them."""
    if seed is None:
        return None
    values = list(seed) if isinstance(seed, (list, tuple)) else [seed]
    if not values or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer))
                         or v < 0 for v in values):
        raise ValueError(f"seed must be an integer >= 0 or None, got {seed!r}")
    return seed


def check_image(value, spec, n=None):
    """Validates input images for an ``"image"`` input (kerasgan.sampling.check_image):
    float NHWC (one image is a batch of one), the input's channels, a size the
    network takes, values in ``[low, high]``; returns float32 ``(n, H, W, C)``."""
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


def _check_code(value, n, spec):
    """A caller-given value for input ``spec``, broadcast to ``(n, *shape)``
    (kerasgan.sampling.check_code)."""
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


def to_uint8(images):
    """Float images in [-1, 1] to uint8 pixels: ``round((x + 1) * 127.5)``, clipped."""
    images = np.asarray(images, dtype="float32")
    return np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype("uint8")


def make_grid(images, nrow=None, padding=2, pad_value=255):
    """Tiles NHWC images (float in [-1, 1] or uint8) into one uint8 image, as
    ``kerasgan.images.make_grid`` does."""
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"expected a non-empty batch of NHWC images, got shape {images.shape}")
    if images.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"expected NHWC images with 1, 3 or 4 channels, got shape {images.shape} "
            "(channels first? transpose to NHWC)"
        )
    if images.dtype.kind not in "fiub":
        raise ValueError(f"expected float images in [-1, 1] or uint8 pixels, got dtype {images.dtype}")
    if images.dtype != np.uint8:
        if not np.all(np.isfinite(images)):
            raise ValueError("the images contain NaN or Inf values: the model produced no image")
        images = to_uint8(images)
    n, h, w, c = images.shape
    ncol = int(nrow) if nrow else int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / ncol))
    grid = np.full((rows * (h + padding) + padding, ncol * (w + padding) + padding, c),
                   pad_value, np.uint8)
    for i in range(n):
        r, q = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        grid[y : y + h, x : x + w] = images[i]
    return grid


def grid_png(images, nrow=None, scale=1):
    """PNG bytes of a grid of ``images``; ``scale`` upsamples (nearest)."""
    from PIL import Image

    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")
    grid = make_grid(images, nrow=nrow)
    img = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_atomic(path, data):
    """Writes bytes to ``path`` through a temporary file and a rename."""
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder: give a file path, e.g. {os.path.join(path, 'grid.png')}")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


class OnnxGenerator:
    """A kerasgan generator exported to ONNX, run in ONNX Runtime.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (None: ONNX Runtime's default, one per core).
        optimization: ONNX Runtime graph optimisation level: ``"all"`` (default),
            ``"extended"``, ``"basic"`` or ``"none"``.

    Raises:
        ModelError: the file is missing, empty, truncated, corrupt, not ONNX, or
            not a kerasgan export.
    """

    def __init__(self, path, threads=None, optimization="all"):
        import onnxruntime as ort

        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise ModelError(f"{self.path}: no such file: give the .onnx file `kerasgan export` wrote")
        if os.path.isdir(self.path):
            raise ModelError(
                f"{self.path} is a folder (a SavedModel?): this kit runs .onnx files; "
                "export with `kerasgan export RUN --format onnx`"
            )
        with open(self.path, "rb") as f:
            data = f.read()
        if not data:
            raise ModelError(f"{self.path} is empty: export the model again")
        levels = {
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        }
        if optimization not in levels:
            raise ValueError(f"optimization must be one of {', '.join(levels)}, got {optimization!r}")
        options = ort.SessionOptions()
        options.graph_optimization_level = levels[optimization]
        if threads:
            options.intra_op_num_threads = int(threads)
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise ModelError(
                f"{self.path} is not a valid ONNX model (onnxruntime: {_first_line(e)}): "
                "the file may be truncated or corrupt; copy or export it again"
            ) from None
        self.metadata = read_metadata(self.session, self.path)
        self.inputs = self.metadata["inputs"]
        self.output_name = self.metadata["outputs"][0]["name"]
        graph_inputs = {i.name for i in self.session.get_inputs()}
        wanted = {s["name"] for s in self.inputs}
        if graph_inputs != wanted:
            raise ModelError(
                f"{self.path}: the graph's inputs {sorted(graph_inputs)} do not match its "
                f"metadata {sorted(wanted)}: export it again"
            )

    # ------------------------------------------------------------------ facts
    @property
    def family(self):
        return self.metadata["family"]

    @property
    def image_shape(self):
        return tuple(self.metadata["image_shape"])

    @property
    def num_classes(self):
        """Number of classes of a conditional generator, else None."""
        for spec in self.inputs:
            if spec["sampler"] == "labels":
                return int(spec["num_classes"])
        return None

    @property
    def conditional(self):
        return self.num_classes is not None

    # ------------------------------------------------------------- generating
    def sample_inputs(self, n, seed=None, labels=None, codes=None):
        """The model's inputs for ``n`` images: kerasgan's seed rule (module docstring).

        ``codes`` fixes other inputs by name (InfoGAN's ``c_cat``, ``c_cont``,
        StyleGAN2's ``truncation_psi``): one value for all images, or ``n``;
        like labels, they draw nothing.
        """
        n = int(n)
        rng = np.random.default_rng(check_seed(seed))
        codes = dict(codes or {})
        if labels is not None and not self.conditional:
            raise ValueError(f"{self.family} is unconditional: it takes no labels")
        names = [spec["name"] for spec in self.inputs]
        unknown = sorted(set(codes) - set(names))
        if unknown:
            raise ValueError(f"unknown input(s) {unknown}: the inputs are {names}")
        feed = {}
        for spec in self.inputs:
            shape = (n, *spec.get("default_shape", spec["shape"]))
            sampler, name = spec["sampler"], spec["name"]
            if name in codes:
                feed[name] = _check_code(codes[name], n, spec)
            elif sampler == "normal":
                feed[name] = rng.standard_normal(shape).astype(spec["dtype"])
            elif sampler == "labels" and labels is not None:
                feed[name] = check_labels(labels, n, spec["num_classes"], tuple(spec["shape"]))
            elif sampler in ("labels", "categorical"):
                feed[name] = rng.integers(0, spec["num_classes"], shape).astype("int32")
            elif sampler in ("uniform", "image"):  # an image not given: noise (parity checks)
                feed[name] = rng.uniform(spec["low"], spec["high"], shape).astype(spec["dtype"])
            elif sampler == "fixed":  # a setting (truncation_psi): its default, no draw
                feed[name] = np.full(shape, spec["value"], dtype=spec["dtype"])
            else:
                raise ModelError(
                    f"{self.path}: input {name!r} has sampler {sampler!r}, "
                    "which this kit does not know: update the kit"
                )
        return feed

    def run(self, feed):
        """Runs the graph on a dict of named inputs; returns the images.

        Every input the metadata lists must be given, as an array of shape
        ``(batch, *shape)`` (one batch size for all); floats are cast to
        float32, and labels / categorical codes must be integers in
        ``[0, num_classes)``.

        Raises:
            ValueError: a missing or unknown input, a wrong shape or dtype, or a
                label out of range (checked here: ONNX Runtime would wrap a
                negative label around to another class).
        """
        names = [spec["name"] for spec in self.inputs]
        missing = [name for name in names if name not in feed]
        unknown = sorted(set(feed) - set(names))
        if missing or unknown:
            raise ValueError(
                f"the inputs of {self.family} are {names}: "
                + "; ".join(part for part in (f"missing {missing}" if missing else "",
                                              f"unknown {unknown}" if unknown else "") if part)
            )
        checked, batch = {}, None
        for spec in self.inputs:
            name, shape = spec["name"], tuple(spec["shape"])
            arr = np.asarray(feed[name])
            if spec["sampler"] == "image":
                arr = check_image(arr, spec)
            elif arr.ndim != len(shape) + 1 or tuple(arr.shape[1:]) != shape:
                wanted = "(batch" + "".join(f", {d}" for d in shape) + ("" if shape else ",") + ")"
                raise ValueError(f"input {name!r} must have shape {wanted}, got {arr.shape}")
            if batch is None:
                batch = arr.shape[0]
            elif arr.shape[0] != batch:
                raise ValueError(f"input {name!r} has {arr.shape[0]} rows but "
                                 f"{names[0]!r} has {batch}: give every input one batch size")
            if spec["sampler"] in ("labels", "categorical"):
                try:
                    arr = check_labels(arr, batch, spec["num_classes"], shape)
                except ValueError as e:
                    raise ValueError(f"input {name!r}: {e}") from None
            else:
                if arr.dtype.kind not in "fiu":
                    raise ValueError(f"input {name!r} must be numbers, got {arr.dtype} values")
                arr = arr.astype(spec["dtype"], copy=False)
            checked[name] = arr
        if not batch:
            raise ValueError("the inputs hold no rows: give a batch of at least one")
        return self.session.run([self.output_name], checked)[0]

    def generate(self, n, seed=None, labels=None, batch_size=64, codes=None,
                 truncation_psi=None):
        """``n`` images, float32 NHWC in [-1, 1].

        Args:
            n: number of images (>= 1).
            seed: integer seed (None: fresh randomness).
            labels: required by a conditional model: one class for all images,
                ``n`` classes, or ``"random"`` (drawn uniformly from the seed).
            batch_size: images per ONNX Runtime call.
            codes: dict fixing other inputs by name (InfoGAN's codes).
            truncation_psi: StyleGAN2's truncation (1: none, 0: the average
                image), the same as ``codes={"truncation_psi": psi}``.
        """
        if truncation_psi is not None:
            if not any(spec["name"] == "truncation_psi" for spec in self.inputs):
                raise ValueError(f"this {self.family} generator has no truncation_psi input")
            codes = dict(codes or {}, truncation_psi=truncation_psi)
        n = int(n)
        if n < 1:
            raise ValueError(f"n must be a positive number of images, got {n}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if isinstance(labels, str):
            if labels != "random":
                raise ValueError(f"labels must be class ids or 'random', got {labels!r}")
            if not self.conditional:
                raise ValueError(f"{self.family} is unconditional: it takes no labels")
            labels = None
        elif self.conditional and labels is None:
            raise ValueError(
                f"{self.family} is class-conditional: pass labels= (one class in "
                f"[0, {self.num_classes}) for all images, or one per image), or "
                "labels='random' to draw them uniformly from the seed")
        feed = self.sample_inputs(n, seed=seed, labels=labels, codes=codes)
        out = [self.run({k: v[s : s + batch_size] for k, v in feed.items()})
               for s in range(0, n, batch_size)]
        return np.concatenate(out, axis=0)

    def translate(self, images, batch_size=16):
        """An image-conditioned generator (Pix2Pix) on input ``images``
        (float32 NHWC in [-1, 1]; one ``(H, W, C)`` image is a batch of one):
        the translated images, float32 NHWC in [-1, 1].

        Raises:
            ValueError: the model takes no images, or the images have the
                wrong channels, a size the network does not take, values outside
                the range, NaN.
        """
        specs = [s for s in self.inputs if s["sampler"] == "image"]
        if len(specs) != 1 or len(self.inputs) != 1:
            raise ValueError(f"this {self.family} generator does not translate images: "
                             "use generate(n, seed=...)")
        spec = specs[0]
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        images = check_image(images, spec)
        out = [self.run({spec["name"]: images[s : s + batch_size]})
               for s in range(0, len(images), batch_size)]
        return np.concatenate(out, axis=0)

    # ----------------------------------------------------------------- output
    to_uint8 = staticmethod(to_uint8)
    make_grid = staticmethod(make_grid)
    grid_png = staticmethod(grid_png)

    @staticmethod
    def save_grid(images, path, nrow=None, scale=1):
        """Writes a PNG grid of ``images`` to ``path`` (atomically)."""
        return write_atomic(path, grid_png(images, nrow=nrow, scale=scale))
