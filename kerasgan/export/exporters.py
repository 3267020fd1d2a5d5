"""The exporters: a GAN's generator to ONNX (tf2onnx) and to a SavedModel."""

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from kerasgan import precision
from kerasgan.core.adversarial import AdversarialModel
from kerasgan.core.predict import predict
from kerasgan.images import atomic_write
from kerasgan.sampling import draw_inputs, infer_input_specs
from kerasgan.version import __version__

#: ONNX opset of exported models (ONNX Runtime >= 1.14 runs it).
DEFAULT_OPSET = 17
#: batch sizes of the parity check.
PARITY_BATCH_SIZES = (1, 7, 64)
#: largest max-abs difference the parity check accepts (float32).
PARITY_ATOL = 1e-4
#: the metadata file inside an exported SavedModel folder.
SAVED_MODEL_METADATA = "kerasgan.json"
#: version of the metadata layout; the deployment kit checks it.
FORMAT = "kerasgan-generator/1"
#: metadata keys whose values are JSON (the rest are plain strings).
JSON_KEYS = ("latent_dim", "num_classes", "image_shape", "value_range", "inputs", "outputs",
             "ema", "opset", "scale")


class ExportError(ValueError):
    """The model cannot be exported, or the export failed its checks; the message
    says what went wrong and what to do. Nothing is left at the target."""


@dataclass
class _Target:
    generator: keras.Model
    specs: list
    metadata: dict = field(default_factory=dict)

    @property
    def output_name(self):
        return self.metadata["outputs"][0]["name"]

    def tensor_specs(self):
        return tuple(
            tf.TensorSpec((None, *s["shape"]), s["dtype"], name=s["name"]) for s in self.specs
        )

    def function(self):
        generator, name, single = self.generator, self.output_name, len(self.specs) == 1

        def serve(*inputs):
            return {name: generator(inputs[0] if single else list(inputs), training=False)}

        return serve

    def keras_run(self, inputs):
        x = inputs[0] if len(inputs) == 1 else list(inputs)
        return predict(self.generator, x, batch_size=len(inputs[0]))


def weights_sha256(model):
    """sha256 of a model's weights: for each weight in ``model.weights`` order, its
    shape (as text) and its float32 little-endian bytes. Names are left out, so
    a generator and its EMA copy with equal values hash alike."""
    h = hashlib.sha256()
    for w in model.weights:
        value = np.ascontiguousarray(np.asarray(keras.ops.convert_to_numpy(w), dtype="<f4"))
        h.update(repr(tuple(value.shape)).encode())
        h.update(value.tobytes())
    return h.hexdigest()


def _resolve(model, family=None, num_classes=None, dataset=None, direction=None):
    """The generator to export, its input specs and its metadata.

    ``direction`` picks one generator of a two-way family (a spec with
    ``"AtoB"``, the default, or ``"BtoA"``); it is recorded in the metadata.

    A generator trained in mixed precision is exported as its float32 copy
    (:func:`kerasgan.precision.float32_copy`: every layer float32, the same
    weights), so the exported graph's inputs, outputs and internal compute
    are float32, and the parity check compares against that copy.
    """
    ours = isinstance(model, AdversarialModel)
    directions = model.spec.directions if ours and hasattr(model, "spec") else ()
    if direction is not None and not directions:
        raise ExportError(
            f"direction={direction!r} applies to two-way families; this "
            f"{getattr(model, 'family', type(model).__name__)} model has one generator")
    if ours and directions:
        try:
            direction = directions[0] if direction is None else \
                model.check_direction(direction)
        except ValueError as e:
            raise ExportError(str(e)) from None
        generator = model.sampling_generator_for(direction)
        specs = model.generator_inputs(direction)
        family = family or model.family
        num_classes = None
        ema = model.ema_generator is not None
    elif ours:
        generator = model.sampling_generator
        specs = model.generator_inputs()
        family = family or model.family
        num_classes = model.num_classes
        ema = model.ema_generator is not None
    elif isinstance(model, keras.Model):
        generator = model
        try:
            specs = infer_input_specs(model, num_classes=num_classes)
        except ValueError as e:
            raise ExportError(str(e)) from None
        family = family or "custom"
        ema = None
    else:
        raise ExportError(
            f"expected a kerasgan GAN or a Keras generator model, got {type(model).__name__}"
        )
    compute = precision.compute_dtypes(generator)
    trained_precision = ("mixed_float16" if "float16" in compute
                         else "mixed_bfloat16" if "bfloat16" in compute else "float32")
    try:
        generator = precision.float32_copy(generator)
    except Exception as e:
        raise ExportError(
            f"cannot rebuild the {trained_precision} generator in float32 for export "
            f"({type(e).__name__}: {e}): its layers must be serializable"
        ) from e
    outputs = generator.outputs
    if len(outputs) != 1 or len(outputs[0].shape) != 4:
        shapes = [tuple(o.shape) for o in outputs]
        raise ExportError(
            f"the generator must have one NHWC image output (batch, H, W, C), got {shapes}"
        )
    output_shape = [None if d is None else int(d) for d in outputs[0].shape[1:]]
    image_shape = output_shape
    if None in output_shape:
        # a fully convolutional generator (image-to-image): the size it was trained at
        images = [s for s in specs if s["sampler"] == "image"]
        if ours and getattr(model, "image_shape", None):
            image_shape = [int(d) for d in model.image_shape]
        elif images:
            image_shape = list(images[0]["default_shape"][:2]) + [output_shape[-1]]
        else:
            raise ExportError(f"the generator's output has an unknown size {output_shape} "
                              "and no image input to take it from")
    normal = [s for s in specs if s["sampler"] == "normal"]
    metadata = {
        "format": FORMAT,
        "family": family,
        "latent_dim": int(normal[0]["shape"][-1]) if normal else None,
        "num_classes": int(num_classes) if num_classes else None,
        "image_shape": image_shape,
        "value_range": [-1.0, 1.0],
        "layout": "NHWC",
        "dataset": dataset or "unknown",
        "inputs": specs,
        "outputs": [{"name": "images", "shape": output_shape, "dtype": "float32",
                     "layout": "NHWC", "value_range": [-1.0, 1.0]}],
        "ema": ema,
        # the policy the generator computed in (the export is float32 anyway)
        "trained_precision": trained_precision,
        "weights_sha256": weights_sha256(generator),
        "kerasgan_version": __version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
    }
    if direction is not None:  # the generator of a two-way family
        metadata["direction"] = direction
    if ours:  # family-specific facts (a super-resolution scale and content network, say)
        metadata.update(model.export_metadata())
    return _Target(generator, specs, metadata)


# ------------------------------------------------------------------ parity
def _parity(target, runners, batch_sizes, atol, seed):
    """Runs Keras and each runner on fresh inputs; raises ExportError on a mismatch.

    One run per batch size with every input as ``generate`` draws it, and, for
    a generator with ``"fixed"`` inputs (``truncation_psi``), one more with
    them at half their default value.

    Returns:
        ``{runner: max abs difference vs Keras over all batch sizes}``, plus the
        seed of the inputs under ``"seed"``.
    """
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    worst = {name: 0.0 for name in runners}
    cases = [(batch, None) for batch in batch_sizes]
    # a "fixed" input (a truncation_psi) is checked away from its
    # default too, so the part of the graph it controls is compared
    fixed = {s["name"]: 0.5 * s["value"] if s["value"] else 0.5
             for s in target.specs if s["sampler"] == "fixed"}
    if fixed:
        cases.append((max(batch_sizes), fixed))
    # an image input of dynamic size is checked at a second size too
    for spec in target.specs:
        if spec["sampler"] == "image" and None in spec["shape"][:2]:
            height, width, channels = spec["default_shape"]
            m = int(spec.get("size_multiple") or 1)
            other = [height + m if spec["shape"][0] is None else height,
                     width + 2 * m if spec["shape"][1] is None else width, channels]
            rng = np.random.default_rng([seed, len(cases)])
            images = rng.uniform(spec["low"], spec["high"], (2, *other)).astype("float32")
            cases.append((2, {spec["name"]: images}))
    for i, (batch, codes) in enumerate(cases):
        inputs = draw_inputs(target.specs, batch, seed=[seed, i], codes=codes)
        expected = target.keras_run(inputs)
        for name, run in runners.items():
            got = np.asarray(run(inputs), dtype="float32")
            if got.shape != expected.shape:
                raise ExportError(
                    f"{name} returns shape {got.shape} at input shape {inputs[0].shape}, Keras "
                    f"{expected.shape}: the export is wrong; please report it"
                )
            diff = float(np.max(np.abs(got - expected)))
            if not diff <= atol:  # also catches NaN
                raise ExportError(
                    f"{name} differs from Keras by {diff:.3g} (max abs) at batch {batch}, "
                    f"more than the {atol:g} allowed (input seed {seed}): the exported model "
                    "is not faithful; nothing was written"
                )
            worst[name] = max(worst[name], diff)
    worst["seed"] = seed
    return worst


# -------------------------------------------------------------------- ONNX
def _import_onnx():
    try:
        import onnx
        import onnxruntime
        import tf2onnx
    except ImportError as e:
        raise ExportError(
            f"ONNX export needs tf2onnx, onnx and onnxruntime ({e}): "
            "pip install 'kerasgan[onnx]'"
        ) from None
    return onnx, onnxruntime, tf2onnx


def _layers_by_name(model):
    found = {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        found.setdefault(layer.name, layer)
    return found


def _layer_of_node(model, node_name):
    """The Keras layer whose name scope holds a converted TF node, or None."""
    layers = _layers_by_name(model)
    for part in reversed(node_name.split("/")[:-1]):
        for candidate in (part, re.sub(r"_\d+$", "", part)):
            if candidate in layers and layers[candidate] is not model:
                return layers[candidate]
    return None


def _unsupported_error(target, node, opset, tf2onnx_version):
    layer = _layer_of_node(target.generator, node.name)
    where = (f"layer {layer.name!r} ({type(layer).__name__})" if layer is not None
             else f"node {node.name!r}")
    return ExportError(
        f"{where} uses the TensorFlow op {node.op_type} (node {node.name}), which tf2onnx "
        f"{tf2onnx_version} cannot convert to ONNX opset {opset}: rewrite that layer with "
        "supported ops, or export this generator with format='saved_model' only"
    )


def _convert_onnx(target, opset):
    onnx, _, tf2onnx = _import_onnx()
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    specs = target.tensor_specs()
    fn = tf.function(target.function(), input_signature=specs)
    try:
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=specs, opset=opset)
    except Exception as e:  # tracing or conversion failed inside a layer
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(
            f"converting the {target.metadata['family']} generator to ONNX failed: "
            f"{type(e).__name__}: {first}"
        ) from e
    for node in proto.graph.node:
        if not onnx.defs.has(node.op_type, node.domain or ""):
            raise _unsupported_error(target, node, opset, tf2onnx.__version__)
    # name the dynamic batch axis (and the height and width of a generator
    # that takes any image size)
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims):
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "batch"
        if len(dims) == 4:
            for dim, name in ((dims[1], "height"), (dims[2], "width")):
                if not dim.HasField("dim_value"):
                    dim.dim_param = name
    metadata = dict(target.metadata, tf2onnx_version=tf2onnx.__version__, opset=opset)
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = json.dumps(value) if key in JSON_KEYS else str(value)
    proto.producer_name = "kerasgan (tf2onnx)"
    proto.producer_version = __version__
    proto.doc_string = (
        f"kerasgan {target.metadata['family']} generator: inputs "
        + ", ".join(f"{s['name']} {s['dtype']}{[None] + s['shape']}" for s in target.specs)
        + f"; output images float32 NHWC {[None] + target.metadata['outputs'][0]['shape']} "
        "in [-1, 1]"
    )
    return proto


def _onnx_runner(proto, specs, output_name):
    _, ort, _ = _import_onnx()
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])

    def run(inputs):
        return session.run([output_name], {s["name"]: x for s, x in zip(specs, inputs)})[0]

    return run


def _check_onnx(proto):
    onnx, _, _ = _import_onnx()
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as e:
        raise ExportError(f"the ONNX model fails onnx.checker (full check): {e}") from e


# -------------------------------------------------------------- SavedModel
def _write_saved_model(target, directory):
    archive = keras.export.ExportArchive()
    archive.track(target.generator)
    archive.add_endpoint("serve", target.function(), input_signature=list(target.tensor_specs()))
    try:
        archive.write_out(directory, verbose=False)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(
            f"writing the {target.metadata['family']} generator as a SavedModel failed: "
            f"{type(e).__name__}: {first}"
        ) from e
    with open(os.path.join(directory, SAVED_MODEL_METADATA), "w") as f:
        json.dump(target.metadata, f, indent=2, sort_keys=True)
        f.write("\n")


def _saved_model_runner(directory, specs, output_name):
    loaded = tf.saved_model.load(directory)
    signature = loaded.signatures["serving_default"]

    def run(inputs):
        feed = {s["name"]: tf.constant(x) for s, x in zip(specs, inputs)}
        return signature(**feed)[output_name].numpy()

    return run


def _atomic_directory(path, build):
    """Calls ``build(tmp_dir)``, then moves the folder to ``path``.

    An exception leaves ``path`` as it was (absent, or the previous export);
    a previous export is replaced only once the new one is complete.
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ExportError(f"{path} exists and is not a folder: remove it or choose another path")
    if (os.path.isdir(path) and os.listdir(path)
            and not os.path.exists(os.path.join(path, SAVED_MODEL_METADATA))):
        # only an earlier export is ever replaced: never a folder of the user's files
        raise ExportError(
            f"{path} is a folder with other files in it (not an earlier kerasgan export): "
            "choose a new or empty folder"
        )
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".tmp-{os.path.basename(path)}-")
    old = None
    try:
        result = build(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        if os.path.exists(path):
            old = tempfile.mkdtemp(dir=parent, prefix=f".old-{os.path.basename(path)}-")
            os.rmdir(old)
            os.replace(path, old)
        os.replace(tmp, path)
        return result
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            if os.path.exists(path):
                shutil.rmtree(old, ignore_errors=True)
            else:  # the final rename failed: put the previous export back
                os.replace(old, path)


# ------------------------------------------------------------------ public
def _check_args(path, suffix=None):
    if not path:
        raise ExportError("no output path given")
    if suffix and not os.fspath(path).endswith(suffix):
        raise ExportError(f"{path}: an ONNX export path must end in {suffix}")
    if suffix and os.path.isdir(path):
        raise ExportError(f"{path} is a folder: pass a file path ending in {suffix}")


def export_onnx(model, path, *, dataset=None, opset=DEFAULT_OPSET, check=True,
                atol=PARITY_ATOL, batch_sizes=PARITY_BATCH_SIZES, family=None,
                num_classes=None, parity_seed=None, direction=None):
    """Exports a generator to an ONNX file.

    Args:
        model: a :class:`kerasgan.GAN` (its EMA generator when it has one) or a
            Keras generator model (integer inputs are labels: pass
            ``num_classes``).
        path: the ``.onnx`` file to write (atomically).
        dataset: name of the training data, recorded in the metadata (the CLI
            fills it from the run).
        opset: ONNX opset.
        check: run ``onnx.checker`` (full check) and the parity check against
            Keras in ONNX Runtime before writing.
        atol: largest max-abs difference the parity check accepts.
        batch_sizes: batch sizes of the parity check.
        family: family name for a bare generator (a GAN knows its own).
        num_classes: number of classes of a bare conditional generator.
        parity_seed: seed of the parity inputs (None: fresh).
        direction: for a two-way family (``spec.directions``), the generator to export:
            ``"AtoB"`` (``gan.generator``, the default) or ``"BtoA"``
            (``gan.generator_ba``); each exports on its own.

    Returns:
        A report: ``{"path", "format", "metadata", "parity"}`` (``parity`` maps
        ``"onnxruntime"`` to its max abs difference from Keras, or is None).

    Raises:
        ExportError: a layer uses an op ONNX cannot express (the message names
            the layer and the op), or the check failed. Nothing is written then.
    """
    _check_args(path, ".onnx")
    target = _resolve(model, family, num_classes, dataset, direction)
    proto = _convert_onnx(target, opset)
    parity = None
    if check:
        _check_onnx(proto)
        parity = _parity(target, {"onnxruntime": _onnx_runner(proto, target.specs,
                                                              target.output_name)},
                         batch_sizes, atol, parity_seed)
    import onnx

    atomic_write(path, lambda tmp: onnx.save_model(proto, tmp), suffix=".onnx")
    return {"path": os.fspath(path), "format": "onnx",
            "metadata": read_metadata(path), "parity": parity}


def export_saved_model(model, path, *, dataset=None, check=True, atol=PARITY_ATOL,
                       batch_sizes=PARITY_BATCH_SIZES, family=None, num_classes=None,
                       parity_seed=None, direction=None):
    """Exports a generator to a SavedModel folder.

    The folder has one signature, ``serving_default`` (also callable as
    ``.serve``), with the named inputs and the output ``images``, and the
    metadata in ``kerasgan.json``. Arguments, return value and errors as
    :func:`export_onnx` (the parity runner is ``"saved_model"``).
    """
    _check_args(path)
    target = _resolve(model, family, num_classes, dataset, direction)

    def build(tmp):
        _write_saved_model(target, tmp)
        if not check:
            return None
        runner = _saved_model_runner(tmp, target.specs, target.output_name)
        return _parity(target, {"saved_model": runner}, batch_sizes, atol, parity_seed)

    parity = _atomic_directory(path, build)
    return {"path": os.fspath(path), "format": "saved_model",
            "metadata": read_metadata(path), "parity": parity}


FORMATS = ("onnx", "saved_model")


def export(model, out_dir, *, formats=FORMATS, name=None, **kwargs):
    """Exports to several formats in ``out_dir``: ``NAME.onnx`` and
    ``NAME_savedmodel/`` (``NAME``: the family, by default; ``FAMILY_BtoA``
    for ``direction="BtoA"``).

    Returns:
        The list of reports of :func:`export_onnx` / :func:`export_saved_model`.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ExportError(f"unknown export format {unknown or formats}: use onnx, saved_model")
    if name is None:
        name = model.family if isinstance(model, AdversarialModel) else \
            kwargs.get("family") or "generator"
        if kwargs.get("direction") not in (None, "AtoB"):
            name = f"{name}_{kwargs['direction']}"
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
        raise ExportError(f"export name {name!r} must be letters, digits, '_', '-' or '.'")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ExportError(f"{out_dir} exists and is not a folder: choose a folder for the exports")
    reports = []
    for fmt in formats:
        if fmt == "onnx":
            reports.append(export_onnx(model, os.path.join(out_dir, f"{name}.onnx"), **kwargs))
        else:
            sm_kwargs = {k: v for k, v in kwargs.items() if k != "opset"}
            reports.append(export_saved_model(
                model, os.path.join(out_dir, f"{name}_savedmodel"), **sm_kwargs))
    return reports


def read_metadata(path):
    """The kerasgan metadata of an exported ONNX file or SavedModel folder.

    Raises:
        ExportError: not a kerasgan export.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        meta = os.path.join(path, SAVED_MODEL_METADATA)
        if not os.path.exists(meta):
            raise ExportError(f"{path} has no {SAVED_MODEL_METADATA}: not a kerasgan export")
        with open(meta) as f:
            return json.load(f)
    import onnx

    try:
        proto = onnx.load_model(path, load_external_data=False)
    except Exception as e:
        raise ExportError(f"{path} is not a readable ONNX model: {e}") from None
    props = {p.key: p.value for p in proto.metadata_props}
    if props.get("format") != FORMAT:
        raise ExportError(f"{path} has no kerasgan metadata: not a kerasgan export")
    return {k: json.loads(v) if k in JSON_KEYS else v for k, v in props.items()}
