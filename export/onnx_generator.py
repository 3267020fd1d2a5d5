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

A DRIT export translates with random attributes, or with a reference image's
attribute (its ``attribute_encoder`` part, exported beside it)::

    gen = OnnxGenerator("drit.onnx")
    dogs = gen.translate(cats, n=4, seed=0)     # (N, 4, H, W, C)
    codes = OnnxGenerator("drit_attribute_encoder.onnx").encode(reference_dogs)
    styled = gen.translate(cats, attributes=codes)

(its height and width may differ from the training size when they are
multiples of the input's ``size_multiple``).

A StyleGAN2 export takes its truncation as an input::

    images = gen.generate(16, seed=3, truncation_psi=0.7)   # or codes={"truncation_psi": 0.7}

A text (token-sequence) export is a one-step network, sampled token by token
with the seed rule of ``kerasgan.sampling`` (``sequence_uniforms``,
``pick_tokens``) and decoded with the vocabulary in its metadata::

    gen = OnnxGenerator("mle.onnx")
    out = gen.generate(10, seed=0, temperature=0.8)
    out.texts, out.ids                          # sentences; int32 (10, seq_len)

This file deliberately repeats small pieces of kerasgan (``check_labels``,
``check_code``, the labels rule of ``resolve_labels``, the grid and the atomic
write, the sequence seed rule and the vocabulary's decoding) instead of
importing them: kerasgan needs TensorFlow. The tests check that both give the
same images, sentences, grids and errors.
"""

import collections
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
             "ema", "opset", "scale",
             "vocabulary", "vocab_size", "seq_len", "start_id", "end_id", "pad_id",
             "state_shapes", "states", "sampling")
REQUIRED_KEYS = ("family", "image_shape", "inputs", "outputs")
#: the kind of a text export (metadata ``kind``) and the keys it must have.
TOKEN_SEQUENCE = "token_sequence"
TEXT_REQUIRED_KEYS = ("family", "inputs", "outputs", "vocabulary", "vocab_size", "seq_len",
                      "start_id", "end_id", "pad_id", "states", "sampling")
#: the token sampling rule this kit implements (metadata ``sampling["rule"]``).
SEQUENCE_RULE = "kerasgan-sequence/1"

#: what ``generate`` returns for a text model: int32 ids ``(n, seq_len)`` and
#: the decoded sentences (as kerasgan's ``SequenceGAN.generate``).
GeneratedText = collections.namedtuple("GeneratedText", ["ids", "texts"])


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
    required = TEXT_REQUIRED_KEYS if props.get("kind") == TOKEN_SEQUENCE else REQUIRED_KEYS
    missing = [k for k in required if k not in props]
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


# ------------------------------------------- token sequences (kerasgan.sampling)
def sequence_uniforms(n, seq_len, seed=None):
    """The uniforms that pick the tokens of ``n`` sequences (kerasgan.sampling.sequence_uniforms):
    one ``numpy.random.default_rng(seed).random((n, seq_len))``, row ``i``
    for sequence ``i``."""
    return np.random.default_rng(check_seed(seed)).random((int(n), int(seq_len)))


def check_temperature(temperature):
    """A sampling temperature: a finite number > 0 (kerasgan.sampling.check_temperature)."""
    try:
        value = float(temperature)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(temperature, bool) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"temperature must be a number > 0 (1.0 samples the model as "
                         f"trained, lower is more conservative), got {temperature!r}")
    return value


def pick_tokens(logits, u, temperature=1.0):
    """Tokens picked from ``logits`` ``(n, V)`` by the uniforms ``u`` ``(n,)``
    (kerasgan.sampling.pick_tokens): the first token whose float64 cumulative
    ``softmax(logits / temperature)`` exceeds ``u`` times the total."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    cdf = np.cumsum(p, axis=-1)
    thr = np.asarray(u, dtype=np.float64) * cdf[:, -1]
    idx = (cdf <= thr[:, None]).sum(axis=-1)
    return np.minimum(idx, z.shape[-1] - 1).astype(np.int32)


def decode_tokens(ids, tokens, end_id=None, pad_id=None):
    """The tokens of ``ids`` up to the first ``end_id`` or ``pad_id`` (all of
    them when both are None: a numeric vocabulary), as
    ``kerasgan.vocabulary.Vocabulary.decode_tokens``."""
    stops = {i for i in (end_id, pad_id) if i is not None}
    out = []
    for i in ids:
        i = int(i)
        if i in stops:
            break
        out.append(tokens[i] if 0 <= i < len(tokens) else "<unk>")
    return out


def decode(ids, tokens, end_id=None, pad_id=None):
    """``ids`` as one sentence: :func:`decode_tokens` joined by spaces."""
    return " ".join(decode_tokens(ids, tokens, end_id, pad_id))


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
        self.output_names = [o["name"] for o in self.metadata["outputs"]]
        graph_inputs = {i.name for i in self.session.get_inputs()}
        wanted = {s["name"] for s in self.inputs}
        if graph_inputs != wanted:
            raise ModelError(
                f"{self.path}: the graph's inputs {sorted(graph_inputs)} do not match its "
                f"metadata {sorted(wanted)}: export it again"
            )
        if self.is_text:
            self._check_text()

    def _check_text(self):
        """A text export: the sampling rule, the vocabulary and the states are usable."""
        meta = self.metadata
        rule = meta["sampling"].get("rule") if isinstance(meta["sampling"], dict) else None
        if rule != SEQUENCE_RULE:
            raise ModelError(
                f"{self.path}: its tokens are sampled by rule {rule!r}, which this kit does not "
                f"know (it knows {SEQUENCE_RULE!r}): update the kit")
        vocabulary = meta["vocabulary"]
        tokens = vocabulary.get("tokens") if isinstance(vocabulary, dict) else vocabulary
        if not isinstance(tokens, list) or len(tokens) != meta["vocab_size"]:
            raise ModelError(f"{self.path}: its vocabulary does not hold vocab_size="
                             f"{meta['vocab_size']} tokens: export it again")
        self.tokens = [str(t) for t in tokens]
        graph_outputs = {o.name for o in self.session.get_outputs()}
        names = [s["name"] for s in self.inputs]
        states = meta["states"]
        if (not set(self.output_names) <= graph_outputs or not self.inputs
                or self.inputs[0]["sampler"] != "token"
                or [st["input"] for st in states] != names[1:]
                or [st["output"] for st in states] != self.output_names[1:]):
            raise ModelError(f"{self.path}: the graph's inputs and outputs do not match its "
                             "metadata's token and states: export it again")

    # ------------------------------------------------------------------ facts
    @property
    def family(self):
        return self.metadata["family"]

    @property
    def kind(self):
        """``"token_sequence"`` for a text export; an image generator's
        metadata has no ``kind`` (None)."""
        return self.metadata.get("kind")

    @property
    def is_text(self):
        """True for a token-sequence (text) export."""
        return self.kind == TOKEN_SEQUENCE

    @property
    def image_shape(self):
        """``(H, W, C)`` of an image generator (None for a text model)."""
        shape = self.metadata.get("image_shape")
        return None if shape is None else tuple(shape)

    @property
    def seq_len(self):
        """Tokens per sequence of a text model (None for an image generator)."""
        return self.metadata.get("seq_len")

    @property
    def vocab_size(self):
        """Tokens in the vocabulary of a text model (None for an image generator)."""
        return self.metadata.get("vocab_size")

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
        if self.is_text:
            raise ValueError(f"this {self.family} model makes text, token by token: use "
                             "generate(n, seed=..., temperature=...)")
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
        """Runs the graph on a dict of named inputs; returns the images (a
        text model: the list ``[logits, *next_states]``, in the metadata's
        ``outputs`` order).

        Every input the metadata lists must be given, as an array of shape
        ``(batch, *shape)`` (one batch size for all); floats are cast to
        float32, and labels / categorical codes must be integers in
        ``[0, num_classes)`` (a text model's ``token``: ids in ``[0, vocab_size)``).

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
            elif spec["sampler"] == "token":  # ONNX Runtime's Gather would wrap a negative id
                try:
                    arr = check_labels(arr, batch, self.vocab_size, shape)
                except ValueError as e:
                    raise ValueError(f"input {name!r}: {str(e).replace('labels', 'token ids')}"
                                     ) from None
            else:
                if arr.dtype.kind not in "fiu":
                    raise ValueError(f"input {name!r} must be numbers, got {arr.dtype} values")
                arr = arr.astype(spec["dtype"], copy=False)
            checked[name] = arr
        if not batch:
            raise ValueError("the inputs hold no rows: give a batch of at least one")
        if self.is_text:
            return self.session.run(self.output_names, checked)
        return self.session.run([self.output_name], checked)[0]

    def step(self, token, states=None):
        """One step of a text model: ``(logits (B, V), next states)`` for
        ``token`` ``(B,)`` ids and the states (None: zeros, the start of a
        sequence)."""
        if not self.is_text:
            raise ValueError(f"this {self.family} generator makes images: use generate(n, seed)")
        token = np.asarray(token)
        if states is None:
            states = [np.zeros((len(token), *s["shape"]), np.float32) for s in self.inputs[1:]]
        outputs = self.run(dict(zip([s["name"] for s in self.inputs], [token, *states])))
        return outputs[0], outputs[1:]

    def generate_text(self, n, seed=None, temperature=1.0, batch_size=256):
        """``n`` sentences of a text model, sampled token by token as kerasgan's
        ``SequenceGAN.generate(n, seed, temperature)`` samples them (the same
        ids for the same seed and temperature, whatever ``batch_size``).

        Returns:
            :data:`GeneratedText`: ``ids`` int32 ``(n, seq_len)`` and
            ``texts``, each decoded with the model's vocabulary up to its
            first end or pad token.

        Raises:
            ValueError: not a text model, ``n`` < 1, a bad seed, or a
                temperature that is not a number > 0.
        """
        if not self.is_text:
            raise ValueError(f"this {self.family} generator makes images: use generate(n, seed)")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive number of sentences, got {n!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        temperature = check_temperature(temperature)
        meta = self.metadata
        u = sequence_uniforms(n, meta["seq_len"], seed)
        ids = np.zeros((n, meta["seq_len"]), np.int32)
        for start in range(0, n, batch_size):
            rows = min(batch_size, n - start)
            token, states = np.full((rows,), meta["start_id"], np.int32), None
            for t in range(meta["seq_len"]):
                logits, states = self.step(token, states)
                token = pick_tokens(logits, u[start:start + rows, t], temperature)
                ids[start:start + rows, t] = token
        return GeneratedText(ids, [self.decode(row) for row in ids])

    def decode(self, ids):
        """Token ids of a text model as a sentence (up to the first end or pad token)."""
        return decode(ids, self.tokens, self.metadata["end_id"], self.metadata["pad_id"])

    @staticmethod
    def save_text(texts, path):
        """Writes sentences to ``path``, one a line (UTF-8, atomically)."""
        return write_atomic(path, "".join(f"{t}\n" for t in texts).encode("utf-8"))

    def generate(self, n, seed=None, labels=None, batch_size=64, codes=None,
                 truncation_psi=None, temperature=None):
        """``n`` images, float32 NHWC in [-1, 1]; for a text model, ``n``
        sentences (:meth:`generate_text`: ``GeneratedText(ids, texts)``).

        Args:
            n: number of images (>= 1).
            seed: integer seed (None: fresh randomness).
            labels: required by a conditional model: one class for all images,
                ``n`` classes, or ``"random"`` (drawn uniformly from the seed).
            batch_size: images per ONNX Runtime call.
            codes: dict fixing other inputs by name (InfoGAN's codes).
            truncation_psi: StyleGAN2's truncation (1: none, 0: the average
                image), the same as ``codes={"truncation_psi": psi}``.
            temperature: a text model's sampling temperature (> 0, default
                1.0); an image generator takes none.
        """
        if self.is_text:
            if labels is not None or codes or truncation_psi is not None:
                raise ValueError(f"this {self.family} model makes text: it takes n, seed and "
                                 "temperature (no labels, codes or truncation_psi)")
            return self.generate_text(n, seed=seed, batch_size=batch_size,
                                      temperature=1.0 if temperature is None else temperature)
        if temperature is not None:
            raise ValueError(f"temperature applies to text models: this {self.family} "
                             "generator makes images")
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

    def translate(self, images, batch_size=16, n=None, seed=None, attributes=None):
        """An image-conditioned generator (Pix2Pix, CycleGAN) on input
        ``images`` (float32 NHWC in [-1, 1]; one ``(H, W, C)`` image is a batch
        of one): the translated images, float32 NHWC in [-1, 1].

        A translator with an attribute input as well (DRIT: ``inputs`` and
        ``attribute``) draws the attributes as ``DRIT.translate`` does: ``n``
        per image (``(N, n, H, W, C)``; None: one each, ``(N, H, W, C)``),
        rows ``i * n + j`` of ``default_rng(seed).standard_normal``; or takes
        ``attributes`` (``(D,)`` for all images or ``(N, D)``: an attribute
        encoder's codes of reference images, see :meth:`encode`).

        Raises:
            ValueError: the model takes no images, or the images have the
                wrong channels, a size the network does not take, values outside
                the range, NaN; ``n`` or ``attributes`` for a model without an
                attribute input.
        """
        specs = [s for s in self.inputs if s["sampler"] == "image"]
        others = [s for s in self.inputs if s["sampler"] != "image"]
        if len(specs) != 1 or len(others) > 1 or any(
                s["sampler"] != "normal" or len(s["shape"]) != 1 for s in others):
            raise ValueError(f"this {self.family} generator does not translate images: "
                             "use generate(n, seed=...)")
        spec = specs[0]
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        images = check_image(images, spec)
        if not others:
            if n is not None or attributes is not None:
                raise ValueError(f"this {self.family} generator has one output per input: "
                                 "it takes no n or attributes")
            out = [self.run({spec["name"]: images[s : s + batch_size]})
                   for s in range(0, len(images), batch_size)]
            return np.concatenate(out, axis=0)
        code, count = others[0], len(images)
        dim = code["shape"][0]
        if n is not None and attributes is not None:
            raise ValueError("give n (random attributes) or attributes, not both")
        if attributes is not None:
            codes = np.asarray(attributes, dtype="float32")
            codes = codes[None] if codes.ndim == 1 else codes
            if codes.ndim != 2 or codes.shape[1] != dim or len(codes) not in (1, count) \
                    or not np.all(np.isfinite(codes)):
                raise ValueError(f"attributes must be finite, of shape ({dim},) or "
                                 f"({count}, {dim}), got {codes.shape}")
            codes, k = np.broadcast_to(codes, (count, dim)), 1
        else:
            if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer))
                                  or n < 1):
                raise ValueError(f"n must be an integer >= 1, got {n!r}")
            k = 1 if n is None else int(n)
            rng = np.random.default_rng(check_seed(seed))
            codes = rng.standard_normal((count * k, dim)).astype("float32")
            images = np.repeat(images, k, axis=0)
        out = np.concatenate([self.run({spec["name"]: images[s : s + batch_size],
                                        code["name"]: codes[s : s + batch_size]})
                              for s in range(0, len(images), batch_size)], axis=0)
        return out if n is None else out.reshape((count, k, *out.shape[1:]))

    def encode(self, images, batch_size=64):
        """An encoder export (DRIT's ``attribute_encoder`` or
        ``content_encoder`` part) on ``images``: its codes, float32
        ``(N, *shape)``. ``translate(x, attributes=encoder.encode(refs))`` is
        reference-guided translation."""
        specs = [s for s in self.inputs if s["sampler"] == "image"]
        if len(specs) != 1 or len(self.inputs) != 1 or self.output_name == "images":
            raise ValueError(f"this {self.family} model is not an encoder: it has no "
                             "codes to return")
        images = check_image(images, specs[0])
        return np.concatenate([self.run({specs[0]["name"]: images[s : s + batch_size]})
                               for s in range(0, len(images), batch_size)], axis=0)

    # ----------------------------------------------------------------- output
    to_uint8 = staticmethod(to_uint8)
    make_grid = staticmethod(make_grid)
    grid_png = staticmethod(grid_png)

    @staticmethod
    def save_grid(images, path, nrow=None, scale=1):
        """Writes a PNG grid of ``images`` to ``path`` (atomically)."""
        return write_atomic(path, grid_png(images, nrow=nrow, scale=scale))
