"""The exporters: a GAN's generator to ONNX (tf2onnx) and to a SavedModel.

A token-sequence model (:class:`kerasgan.core.sequence.SequenceGAN`) exports
its *step network*, ``[token, *states] -> [logits, *next_states]``, with the
vocabulary and the sampling rule in the metadata; the caller (the deployment
kit) runs it token by token. See ``docs/export.md``, "Text generators".
"""

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
from kerasgan.core import tf_step
from kerasgan.core.adversarial import AdversarialModel
from kerasgan.core.predict import predict
from kerasgan.images import atomic_write
from kerasgan.sampling import draw_inputs, infer_input_specs, pick_tokens, sequence_uniforms
from kerasgan.spec import TOKEN_SEQUENCE
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
             "ema", "opset", "scale",
             # token-sequence exports
             "vocabulary", "vocab_size", "seq_len", "start_id", "end_id", "pad_id",
             "state_shapes", "states", "sampling")
#: how a token-sequence export is sampled (its metadata's ``sampling``): the
#: seed rule of :func:`kerasgan.sampling.sequence_uniforms` and
#: :func:`kerasgan.sampling.pick_tokens`, which the deployment kit copies.
SEQUENCE_SAMPLING = {
    "rule": "kerasgan-sequence/1",
    "uniforms": "numpy.random.default_rng(seed).random((n, seq_len)), float64; "
                "row i for sequence i",
    "first_token": "start_id",
    "initial_states": "zeros",
    "pick": "token t of sequence i: the first id whose cumulative sum of "
            "softmax(logits / temperature) (float64) exceeds u[i, t] times the total",
    "decode": "the tokens of the vocabulary up to the first end_id or pad_id, "
              "joined by single spaces",
}
#: temperatures of the token parity check of a token-sequence export.
SEQUENCE_PARITY_TEMPERATURES = (1.0, 0.5)


class ExportError(ValueError):
    """The model cannot be exported, or the export failed its checks; the message
    says what went wrong and what to do. Nothing is left at the target."""


@dataclass
class _Target:
    generator: keras.Model
    specs: list
    metadata: dict = field(default_factory=dict)

    sequence = False

    @property
    def output_name(self):
        return self.metadata["outputs"][0]["name"]

    @property
    def output_names(self):
        return [o["name"] for o in self.metadata["outputs"]]

    def doc_string(self):
        return (
            f"kerasgan {self.metadata['family']} generator: inputs "
            + ", ".join(f"{s['name']} {s['dtype']}{[None] + s['shape']}" for s in self.specs)
            + f"; output images float32 NHWC {[None] + self.metadata['outputs'][0]['shape']} "
            "in [-1, 1]"
        )

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


@dataclass
class _SequenceTarget(_Target):
    """A token-sequence generator: the step network ``[token, *states] ->
    [logits, *next_states]``, run one step at a time."""

    sequence = True

    def function(self):
        generator, names = self.generator, self.output_names

        def serve(*inputs):
            outputs = generator(list(inputs), training=False)
            if not isinstance(outputs, (list, tuple)):
                outputs = [outputs]
            return dict(zip(names, outputs))

        return serve

    def keras_run(self, inputs):
        """One step in Keras (as :meth:`SequenceGAN.generate` runs it):
        ``[logits, *next_states]`` as float32 numpy arrays."""
        fn = tf_step.inference_function(self.generator)
        outputs = fn([tf_step.to_tensor(x) for x in inputs])
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return [np.asarray(x, dtype="float32") for x in outputs]

    def doc_string(self):
        meta = self.metadata
        return (
            f"kerasgan {meta['family']} token-sequence step network: inputs "
            + ", ".join(f"{s['name']} {s['dtype']}{[None] + s['shape']}" for s in self.specs)
            + f"; outputs logits float32 {[None, meta['vocab_size']]} and the next states "
            + ", ".join(o["name"] for o in meta["outputs"][1:])
            + f". Sampled token by token from start id {meta['start_id']} and zero states for "
            f"{meta['seq_len']} steps by the rule in the metadata's 'sampling'; the vocabulary "
            "is in its 'vocabulary'."
        )


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


def _resolve(model, family=None, num_classes=None, dataset=None, direction=None, part=None):
    """The generator to export, its input specs and its metadata.

    ``direction`` picks one generator of a two-way family (a spec with
    ``"AtoB"``, the default, or ``"BtoA"``); it is recorded in the metadata.
    ``part`` picks one of the networks a family exports beside its generator
    (``model.export_parts(direction)``: an encoder-based translator's
    ``generator``, ``content_encoder`` and ``attribute_encoder``); recorded as
    ``"part"``.

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
    part_output = None
    if part is not None:
        parts = model.export_parts(direction) if ours and hasattr(model, "export_parts") else {}
        if part not in parts:
            raise ExportError(
                f"part={part!r}: " + (f"choose one of {', '.join(parts)}" if parts else
                                      "this model exports one network (no parts)"))
        generator = parts[part]
        part_output = model.export_part_outputs[part]
        try:
            specs = infer_input_specs(generator, image_shape=getattr(model, "image_shape", None))
        except ValueError as e:
            raise ExportError(str(e)) from None
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
    if ours and getattr(getattr(model, "spec", None), "kind", None) == TOKEN_SEQUENCE:
        return _resolve_sequence(model, generator, specs, family, dataset, ema,
                                 trained_precision)
    outputs = generator.outputs
    if part_output is not None and part_output != "images":
        return _resolve_part(model, generator, specs, family, dataset, ema, trained_precision,
                             direction, part, part_output)
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
    if part is not None:
        metadata["part"] = part
        metadata["latent_dim"] = None
    if ours:  # family-specific facts (a super-resolution scale and content network, say)
        metadata.update(model.export_metadata())
    return _Target(generator, specs, metadata)


def _resolve_part(model, network, specs, family, dataset, ema, trained_precision, direction,
                  part, output_name):
    """The :class:`_Target` of a part whose output is not images (an encoder's
    codes): its one output, named ``output_name``, in the metadata."""
    outputs = network.outputs
    if len(outputs) != 1:
        raise ExportError(f"part {part!r} must have one output, got {len(outputs)}")
    shape = [int(d) for d in outputs[0].shape[1:]]
    metadata = {
        "format": FORMAT, "family": family, "part": part, "latent_dim": None,
        "num_classes": None, "image_shape": [int(d) for d in model.image_shape],
        "value_range": [-1.0, 1.0], "layout": "NHWC", "dataset": dataset or "unknown",
        "inputs": specs,
        "outputs": [{"name": output_name, "shape": shape, "dtype": "float32"}],
        "ema": ema, "trained_precision": trained_precision,
        "weights_sha256": weights_sha256(network), "kerasgan_version": __version__,
        "tensorflow_version": tf.__version__, "keras_version": keras.__version__,
    }
    if direction is not None:
        metadata["direction"] = direction
    metadata.update(model.export_metadata())
    return _Target(network, specs, metadata)


def _resolve_sequence(model, generator, specs, family, dataset, ema, trained_precision):
    """The :class:`_SequenceTarget` of a token-sequence model: its (float32)
    step network, one output per input (logits, then a next state per state),
    and the metadata: the model's :meth:`export_metadata` (vocabulary,
    seq_len, start / end / pad ids, state shapes) plus the states and the
    sampling rule."""
    inputs, outputs = generator.inputs, generator.outputs
    vocab_size = int(model.vocab_size)
    shapes = [tuple(x.shape[1:]) for x in outputs]
    if (len(outputs) != len(inputs) or len(specs) != len(inputs)
            or shapes[0] != (vocab_size,)
            or shapes[1:] != [tuple(x.shape[1:]) for x in inputs[1:]]
            or "int" not in str(inputs[0].dtype)):
        raise ExportError(
            f"the {family} step network must map [token (batch,) int, *states] to "
            f"[logits (batch, {vocab_size}), *states of the same shapes], got inputs "
            f"{[tuple(x.shape) for x in inputs]} and outputs {[tuple(x.shape) for x in outputs]}")
    if any(None in s for s in shapes):
        raise ExportError(f"the {family} step network has a state of unknown size {shapes}: "
                          "give its states fixed shapes")
    states = [{"input": s["name"], "output": f"next_{s['name']}", "shape": list(s["shape"]),
               "initial": "zeros"} for s in specs[1:]]
    metadata = {
        "format": FORMAT,
        "family": family,
        "kind": TOKEN_SEQUENCE,
        "dataset": dataset or "unknown",
        "inputs": specs,
        "outputs": [{"name": "logits", "shape": [vocab_size], "dtype": "float32"}]
        + [{"name": st["output"], "shape": st["shape"], "dtype": "float32",
            "state": st["input"]} for st in states],
        "states": states,
        "sampling": dict(SEQUENCE_SAMPLING),
        "ema": ema,
        "trained_precision": trained_precision,
        "weights_sha256": weights_sha256(generator),
        "kerasgan_version": __version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
    }
    metadata.update(model.export_metadata())  # vocabulary, seq_len, start/end/pad ids...
    metadata["kind"] = TOKEN_SEQUENCE
    return _SequenceTarget(generator, specs, metadata)


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


def _sample_sequences(step, n, meta, state_shapes, u, temperature):
    """Token ids ``(n, seq_len)`` sampled by ``step`` (``[token, *states] ->
    [logits, *states]``) under the sequence seed rule, and the logits of each step."""
    token = np.full((n,), meta["start_id"], np.int32)
    states = [np.zeros((n, *s), np.float32) for s in state_shapes]
    ids, logits = np.zeros((n, meta["seq_len"]), np.int32), []
    for t in range(meta["seq_len"]):
        outputs = step([token, *states])
        logits.append(np.asarray(outputs[0], dtype="float32"))
        states = [np.asarray(x, dtype="float32") for x in outputs[1:]]
        token = pick_tokens(logits[-1], u[:, t], temperature)
        ids[:, t] = token
    return ids, logits


def _compare_tokens(name, want, got, logits, u, temperature, atol, seed):
    """Checks sampled ids ``got`` against Keras's ``want`` (``(n, L)``), given
    Keras's ``logits`` of each step and the uniforms ``u``: returns the number
    of sequences that differ at a near tie (``u`` within ``2 * atol /
    temperature`` of a cumulative-probability boundary between the two
    tokens, at the first token that differs).

    Raises:
        ExportError: a sequence differs elsewhere than at a near tie.
    """
    ties = 0
    for row in np.nonzero((got != want).any(axis=1))[0]:
        t = int(np.argmax(got[row] != want[row]))
        a, b = sorted((int(want[row, t]), int(got[row, t])))
        z = np.asarray(logits[t][row], dtype=np.float64) / temperature
        cdf = np.cumsum(np.exp(z - z.max()))
        margin = float(np.min(np.abs(cdf[a:b] / cdf[-1] - u[row, t])))
        if not margin <= 2 * atol / temperature:
            raise ExportError(
                f"{name} samples other tokens than Keras for the same seed: sequence {row}, "
                f"token {t + 1}: {int(got[row, t])} where Keras picks {int(want[row, t])} "
                f"(temperature {temperature:g}, seed {seed}, {margin:.3g} from a tie): the "
                "exported model is not faithful; nothing was written")
        ties += 1
    return ties


def _sequence_parity(target, runners, batch_sizes, atol, seed,
                     temperatures=SEQUENCE_PARITY_TEMPERATURES):
    """The parity check of a token-sequence export; raises ExportError on a mismatch.

    1. Logits and states: along a sampled run of ``seq_len`` steps at each
       batch size (start token, zero states, then Keras's own tokens and
       states), and once on random tokens and normal states, the same inputs
       go through Keras and each runner; every output must agree within ``atol``.
    2. Tokens: each runner samples ``max(batch_sizes)`` sequences on its own
       (feeding back its own tokens and states) for the seed at each of
       ``temperatures``; they must be Keras's tokens. The only difference
       allowed is a *near tie*: at the first token that differs, ``u`` lies
       within ``2 * atol / temperature`` of a cumulative-probability boundary
       between the two tokens (what logits within ``atol`` can flip); such
       sequences are counted, not compared further.

    Returns:
        ``(parity, tokens)``: ``{runner: max abs difference, "seed": seed}``
        and ``{"sequences", "temperatures", "near_ties"}``.
    """
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    meta = target.metadata
    seq_len, vocab_size = meta["seq_len"], meta["vocab_size"]
    state_shapes = [tuple(s["shape"]) for s in target.specs[1:]]
    names = target.output_names
    worst = {name: 0.0 for name in runners}

    def compare(name, got, expected, where):
        if len(got) != len(expected):
            raise ExportError(f"{name} returns {len(got)} outputs, Keras {len(expected)}: the "
                              "export is wrong; please report it")
        for out, g, e in zip(names, got, expected):
            g = np.asarray(g, dtype="float32")
            if g.shape != e.shape:
                raise ExportError(f"{name} returns {out} of shape {g.shape} at {where}, Keras "
                                  f"{e.shape}: the export is wrong; please report it")
            diff = float(np.max(np.abs(g - e))) if e.size else 0.0
            if not diff <= atol:  # also catches NaN
                raise ExportError(
                    f"{name} differs from Keras by {diff:.3g} (max abs) in {out} at {where}, "
                    f"more than the {atol:g} allowed (input seed {seed}): the exported model "
                    "is not faithful; nothing was written")
            worst[name] = max(worst[name], diff)

    # 1. the same tokens and states through Keras and each runner
    for i, batch in enumerate(batch_sizes):
        u = sequence_uniforms(batch, seq_len, [seed, i])
        token = np.full((batch,), meta["start_id"], np.int32)
        states = [np.zeros((batch, *s), np.float32) for s in state_shapes]
        for t in range(seq_len):
            inputs = [token, *states]
            expected = target.keras_run(inputs)
            for name, run in runners.items():
                compare(name, run(inputs), expected, f"step {t + 1} of {seq_len}, batch {batch}")
            token, states = pick_tokens(expected[0], u[:, t]), expected[1:]
    rng = np.random.default_rng([seed, len(batch_sizes)])
    batch = max(batch_sizes)
    inputs = [rng.integers(0, vocab_size, (batch,)).astype(np.int32)]
    inputs += [rng.standard_normal((batch, *s)).astype(np.float32) for s in state_shapes]
    expected = target.keras_run(inputs)
    for name, run in runners.items():
        compare(name, run(inputs), expected, f"random tokens and states, batch {batch}")

    # 2. the same tokens for the same seed and temperature
    ties = 0
    for j, temperature in enumerate(temperatures):
        u = sequence_uniforms(batch, seq_len, [seed, 100 + j])
        want, logits = _sample_sequences(target.keras_run, batch, meta, state_shapes, u,
                                         temperature)
        for name, run in runners.items():
            got, _ = _sample_sequences(run, batch, meta, state_shapes, u, temperature)
            ties += _compare_tokens(name, want, got, logits, u, temperature, atol, seed)
    worst["seed"] = seed
    return worst, {"sequences": batch * len(temperatures),
                   "temperatures": list(temperatures), "near_ties": ties}


def _check_parity(target, runner, name, batch_sizes, atol, seed):
    """``(parity, token parity)`` of ``runner`` against Keras (token parity:
    None for an image generator)."""
    if target.sequence:
        return _sequence_parity(target, {name: runner}, batch_sizes, atol, seed)
    return _parity(target, {name: runner}, batch_sizes, atol, seed), None


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
    # the graph's outputs in the metadata's order (tf2onnx sorts them by name)
    order = {name: i for i, name in enumerate(target.output_names)}
    outputs = sorted(proto.graph.output, key=lambda o: order.get(o.name, len(order)))
    if [o.name for o in outputs] != [o.name for o in proto.graph.output]:
        outputs = [type(o).FromString(o.SerializeToString()) for o in outputs]
        del proto.graph.output[:]
        proto.graph.output.extend(outputs)
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
    proto.doc_string = target.doc_string()
    return proto


def _onnx_runner(proto, specs, output_name):
    _, ort, _ = _import_onnx()
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])

    def run(inputs):
        return session.run([output_name], {s["name"]: x for s, x in zip(specs, inputs)})[0]

    return run


def _onnx_step_runner(proto, specs, output_names):
    """A step runner of a token-sequence export: ``inputs -> [logits, *states]``."""
    _, ort, _ = _import_onnx()
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])

    def run(inputs):
        return session.run(list(output_names), {s["name"]: x for s, x in zip(specs, inputs)})

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


def _saved_model_step_runner(directory, specs, output_names):
    """A step runner of a token-sequence SavedModel: ``inputs -> [logits, *states]``."""
    loaded = tf.saved_model.load(directory)
    signature = loaded.signatures["serving_default"]

    def run(inputs):
        result = signature(**{s["name"]: tf.constant(x) for s, x in zip(specs, inputs)})
        return [result[name].numpy() for name in output_names]

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
                num_classes=None, parity_seed=None, direction=None, part=None):
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
        part: a network the family exports beside its generator
            (``model.export_parts()``: an encoder-based translator's ``"generator"``,
            ``"content_encoder"``, ``"attribute_encoder"``), checked the same way.

    A token-sequence model (``SequenceGAN``) exports its
    step network: inputs ``token`` ``(batch,)`` int32 and its states (``h``,
    ``c``; a relational memory's ``memory``), outputs ``logits`` ``(batch, vocab_size)`` and
    ``next_<state>`` for each state, with the vocabulary, ``seq_len``, the
    start / end / pad ids, the states and the sampling rule in the metadata.
    Its check compares logits and states along sampled runs at each batch
    size, and the tokens sampled for one seed at temperatures 1.0 and 0.5
    (see :func:`_sequence_parity`).

    Example:
        >>> gan = kerasgan.models.get(name, vocab_size=12, seq_len=6, seed=0)  # a text family
        >>> report = export_onnx(gan, "text.onnx")
        >>> report["parity"]["onnxruntime"] <= 1e-4
        True

    Returns:
        A report: ``{"path", "format", "metadata", "parity"}`` (``parity`` maps
        ``"onnxruntime"`` to its max abs difference from Keras, or is None); a
        token-sequence export adds ``"token_parity"``: ``{"sequences",
        "temperatures", "near_ties"}`` (None without the check).

    Raises:
        ExportError: a layer uses an op ONNX cannot express (the message names
            the layer and the op), or the check failed. Nothing is written then.
    """
    _check_args(path, ".onnx")
    target = _resolve(model, family, num_classes, dataset, direction, part)
    proto = _convert_onnx(target, opset)
    parity = tokens = None
    if check:
        _check_onnx(proto)
        if target.sequence:
            runner = _onnx_step_runner(proto, target.specs, target.output_names)
        else:
            runner = _onnx_runner(proto, target.specs, target.output_name)
        parity, tokens = _check_parity(target, runner, "onnxruntime", batch_sizes, atol,
                                       parity_seed)
    import onnx

    atomic_write(path, lambda tmp: onnx.save_model(proto, tmp), suffix=".onnx")
    report = {"path": os.fspath(path), "format": "onnx",
              "metadata": read_metadata(path), "parity": parity}
    if target.sequence:
        report["token_parity"] = tokens
    return report


def export_saved_model(model, path, *, dataset=None, check=True, atol=PARITY_ATOL,
                       batch_sizes=PARITY_BATCH_SIZES, family=None, num_classes=None,
                       parity_seed=None, direction=None, part=None):
    """Exports a generator to a SavedModel folder.

    The folder has one signature, ``serving_default`` (also callable as
    ``.serve``), with the named inputs and the output ``images`` (a
    token-sequence step network: ``logits`` and ``next_<state>``), and the
    metadata in ``kerasgan.json``. Arguments, return value and errors as
    :func:`export_onnx` (the parity runner is ``"saved_model"``).
    """
    _check_args(path)
    target = _resolve(model, family, num_classes, dataset, direction, part)

    def build(tmp):
        _write_saved_model(target, tmp)
        if not check:
            return None, None
        if target.sequence:
            runner = _saved_model_step_runner(tmp, target.specs, target.output_names)
        else:
            runner = _saved_model_runner(tmp, target.specs, target.output_name)
        return _check_parity(target, runner, "saved_model", batch_sizes, atol, parity_seed)

    parity, tokens = _atomic_directory(path, build)
    report = {"path": os.fspath(path), "format": "saved_model",
              "metadata": read_metadata(path), "parity": parity}
    if target.sequence:
        report["token_parity"] = tokens
    return report


FORMATS = ("onnx", "saved_model")


def export(model, out_dir, *, formats=FORMATS, name=None, **kwargs):
    """Exports to several formats in ``out_dir``: ``NAME.onnx`` and
    ``NAME_savedmodel/`` (``NAME``: the family, by default; ``FAMILY_BtoA``
    for ``direction="BtoA"``).

    A family with export parts (an encoder-based translator) writes each part as well:
    ``NAME_generator``, ``NAME_content_encoder``, ``NAME_attribute_encoder``.

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
    # a family with parts (an encoder-based translator's generator and encoders) exports them too,
    # as NAME_PART; a given part= exports that one alone
    parts = [None]
    if kwargs.get("part") is None and isinstance(model, AdversarialModel) \
            and hasattr(model, "export_parts"):
        parts += list(model.export_part_outputs)
    for part in parts:
        stem = name if part is None else f"{name}_{part}"
        part_kwargs = dict(kwargs) if part is None else dict(kwargs, part=part)
        for fmt in formats:
            if fmt == "onnx":
                reports.append(export_onnx(model, os.path.join(out_dir, f"{stem}.onnx"),
                                           **part_kwargs))
            else:
                sm_kwargs = {k: v for k, v in part_kwargs.items() if k != "opset"}
                reports.append(export_saved_model(
                    model, os.path.join(out_dir, f"{stem}_savedmodel"), **sm_kwargs))
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
