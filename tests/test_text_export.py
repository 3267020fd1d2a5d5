"""Token-sequence (text) generators: export of the step network to ONNX and
SavedModel, parity, metadata, and the TensorFlow-free kit (generate.py,
serve.py) sampling the same sentences as Keras."""

import ast
import inspect
import json
import os
import sys

import keras
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tensorflow as tf

from kerasgan import export, models, sampling
from kerasgan.export import exporters
from kerasgan.vocabulary import Vocabulary

from test_deploy_kit import KIT, Server, kit_python

sys.path.insert(0, KIT)
import onnx_generator  # noqa: E402
from onnx_generator import OnnxGenerator  # noqa: E402

#: every registered token-sequence family: a new one is tested once registered
SEQUENCE_FAMILIES = [n for n in models.names()
                     if models.get_class(n).spec.kind == "token_sequence"]

SENTENCES = ["a cat sat on the mat", "a dog ran", "the cat ran on the mat",
             "a dog sat", "the mat sat on a cat", "où est le café"]


def tiny(name, **overrides):
    cls = models.get_class(name)
    return cls(**dict(cls.tiny_config, **overrides))


def sharpen(model, seed=1, scale=1.0):
    """Moves every weight off its small initial value, so the logits are far
    from uniform (temperature matters, end tokens get picked) and a wrong
    weight shows."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        value = w.numpy()
        w.assign(value + scale * rng.standard_normal(value.shape).astype(value.dtype))


def text_model(name="mle", seed=0):
    """A model of ``name`` with a word vocabulary (special tokens included)."""
    vocab = Vocabulary.build(SENTENCES)
    keras.utils.set_random_seed(seed)  # the initial weights too: the checks read its samples
    gan = tiny(name, vocabulary=vocab.to_json(), vocab_size=len(vocab), seq_len=8, seed=seed)
    sharpen(gan.generator)
    return gan, vocab


def listing(directory):
    return sorted(os.listdir(directory))


def step_run(gan, batch, steps, seed):
    """Inputs and Keras outputs of ``steps`` steps of the step network on random
    tokens, fed back its own states: ``[(inputs, outputs), ...]``."""
    rng = np.random.default_rng(seed)
    g = gan.sampling_generator
    states = [np.zeros((batch, *s), np.float32) for s in gan.state_shapes]
    run = []
    for _ in range(steps):
        token = rng.integers(0, gan.vocab_size, (batch,)).astype(np.int32)
        outputs = [np.asarray(x) for x in g([token, *states], training=False)]
        run.append(([token, *states], outputs))
        states = outputs[1:]
    return run


# ------------------------------------------------------------------ export
@pytest.mark.parametrize("name", SEQUENCE_FAMILIES)
def test_every_sequence_family_exports_with_parity(name, tmp_path):
    gan = tiny(name, seed=0, ema_decay=0.9)
    sharpen(gan.generator, seed=1)
    sharpen(gan.ema_generator, seed=2)  # the EMA weights differ from the raw ones
    onnx_path, sm_path = tmp_path / f"{name}.onnx", tmp_path / f"{name}_sm"
    report = export.export_onnx(gan, onnx_path, dataset="oracle")
    assert 0 <= report["parity"]["onnxruntime"] <= 1e-4
    assert report["token_parity"]["sequences"] == 128
    assert report["token_parity"]["temperatures"] == [1.0, 0.5]
    sm_report = export.export_saved_model(gan, sm_path, dataset="oracle")
    assert 0 <= sm_report["parity"]["saved_model"] <= 1e-4
    assert listing(tmp_path) == sorted([onnx_path.name, sm_path.name])  # no temporary files

    # metadata, in both formats
    meta = export.read_metadata(onnx_path)
    assert meta["kind"] == "token_sequence" and meta["family"] == name
    assert meta["dataset"] == "oracle" and meta["ema"] is True
    assert meta["vocabulary"] == gan.vocabulary.to_json()
    assert (meta["vocab_size"], meta["seq_len"]) == (gan.vocab_size, gan.seq_len)
    assert (meta["start_id"], meta["end_id"], meta["pad_id"]) == (0, None, None)  # numeric
    assert meta["inputs"] == gan.generator_inputs()
    state_names = [s["name"] for s in gan.generator_inputs()[1:]]
    assert [st["input"] for st in meta["states"]] == state_names
    assert [o["name"] for o in meta["outputs"]] == ["logits"] + [f"next_{s}" for s in state_names]
    assert meta["state_shapes"] == [list(s) for s in gan.state_shapes]
    assert meta["sampling"]["rule"] == "kerasgan-sequence/1"
    assert meta["weights_sha256"] == export.weights_sha256(gan.ema_generator)
    assert "image_shape" not in meta and "latent_dim" not in meta
    sm_meta = export.read_metadata(sm_path)
    assert {k: v for k, v in meta.items() if k not in ("opset", "tf2onnx_version")} == sm_meta

    # the ONNX graph: named inputs and outputs (in the metadata's order), a batch axis
    proto = onnx.load(onnx_path)
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["token", *state_names]
    assert [o.name for o in proto.graph.output] == [o["name"] for o in meta["outputs"]]
    for value in (*proto.graph.input, *proto.graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"

    # independent check: several steps of the same tokens and states through
    # Keras, ONNX Runtime and the SavedModel signature
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    loaded = tf.saved_model.load(str(sm_path))
    outputs = [o["name"] for o in meta["outputs"]]
    worst = 0.0
    for inputs, expected in step_run(gan, batch=5, steps=4, seed=3):
        feed = dict(zip(["token", *state_names], inputs))
        got = session.run(outputs, feed)
        got_sm = loaded.signatures["serving_default"](**{k: tf.constant(v)
                                                         for k, v in feed.items()})
        for i, out in enumerate(outputs):
            worst = max(worst, float(np.abs(got[i] - expected[i]).max()))
            np.testing.assert_allclose(got[i], expected[i], atol=1e-4)
            np.testing.assert_allclose(got_sm[out].numpy(), expected[i], atol=1e-4)
    assert worst <= 1e-4

    # the kit samples the ids and sentences of Keras's generate
    kit = OnnxGenerator(onnx_path)
    assert kit.is_text and kit.kind == "token_sequence" and kit.image_shape is None
    assert (kit.seq_len, kit.vocab_size) == (gan.seq_len, gan.vocab_size)
    for seed, temperature in ((0, 1.0), (5, 0.7), (9, 2.0)):
        expected = gan.generate(12, seed=seed, temperature=temperature)
        got = kit.generate(12, seed=seed, temperature=temperature)
        np.testing.assert_array_equal(got.ids, expected.ids)
        assert got.texts == expected.texts
        # sequence i of a seed does not depend on n or the batch size
        np.testing.assert_array_equal(
            kit.generate_text(5, seed=seed, temperature=temperature, batch_size=2).ids,
            expected.ids[:5])
    assert not np.array_equal(kit.generate(12, seed=0, temperature=0.3).ids,
                              kit.generate(12, seed=0, temperature=3.0).ids)


def test_a_word_vocabulary_travels_with_the_export(tmp_path):
    gan, vocab = text_model("mle")
    reports = export.export(gan, tmp_path / "out")
    assert [r["format"] for r in reports] == ["onnx", "saved_model"]
    assert listing(tmp_path / "out") == ["mle.onnx", "mle_savedmodel"]
    meta = export.read_metadata(tmp_path / "out" / "mle.onnx")
    assert meta["vocabulary"] == {"tokens": vocab.tokens, "numeric": False}
    assert "café" in meta["vocabulary"]["tokens"]  # non-ASCII tokens survive the metadata
    assert (meta["start_id"], meta["end_id"], meta["pad_id"]) == (1, 2, 0)
    assert export.read_metadata(tmp_path / "out" / "mle_savedmodel")["vocabulary"] == \
        meta["vocabulary"]

    kit = OnnxGenerator(tmp_path / "out" / "mle.onnx")
    assert kit.tokens == vocab.tokens
    expected = gan.generate(40, seed=2, temperature=0.8)
    got = kit.generate(40, seed=2, temperature=0.8)
    np.testing.assert_array_equal(got.ids, expected.ids)
    assert got.texts == expected.texts == [vocab.decode(row) for row in got.ids]
    # the sentences stop at their first end (or pad) token: some do, within seq_len
    stops = [row for row in got.ids if {vocab.end_id, vocab.pad_id} & set(row.tolist())]
    assert stops and any(t for t in got.texts)
    # the kit decodes as the vocabulary does, specials included
    rng = np.random.default_rng(0)
    for row in rng.integers(0, len(vocab), (200, 8)):
        assert kit.decode(row) == vocab.decode(row)
    assert kit.decode([4, 5, 2, 6, 7]) == vocab.decode([4, 5, 2, 6, 7]) == \
        " ".join(vocab.tokens[4:6])
    assert kit.decode([1, 3, 4, 0, 5]) == "<start> <unk> " + vocab.tokens[4]


def test_a_failed_parity_check_leaves_nothing(tmp_path, monkeypatch):
    gan, _ = text_model("mle")
    target, sm_target = tmp_path / "mle.onnx", tmp_path / "mle_sm"
    export.export_onnx(gan, target)
    export.export_saved_model(gan, sm_target)
    good, sm_good = target.read_bytes(), (sm_target / "saved_model.pb").read_bytes()

    def off_by(runner_factory, delta, output=0):
        def factory(*args):
            run = runner_factory(*args)

            def wrong(inputs):
                outputs = list(run(inputs))
                outputs[output] = outputs[output] + delta
                return outputs

            return wrong
        return factory

    monkeypatch.setattr(exporters, "_onnx_step_runner",
                        off_by(exporters._onnx_step_runner, 1e-3))
    monkeypatch.setattr(exporters, "_saved_model_step_runner",
                        off_by(exporters._saved_model_step_runner, 1e-3, output=-1))
    gan2, _ = text_model("mle", seed=1)
    with pytest.raises(export.ExportError,
                       match=r"onnxruntime differs from Keras by 0\.001 .* in logits at step 1"):
        export.export_onnx(gan2, target)
    with pytest.raises(export.ExportError,
                       match=r"saved_model differs from Keras by 0\.001 .* in next_c"):
        export.export_saved_model(gan2, sm_target)
    assert target.read_bytes() == good and (sm_target / "saved_model.pb").read_bytes() == sm_good
    with pytest.raises(export.ExportError):
        export.export_onnx(gan2, tmp_path / "new.onnx")
    assert listing(tmp_path) == ["mle.onnx", "mle_sm"]  # no temporary leftovers
    # check=False skips the checks
    report = export.export_onnx(gan2, tmp_path / "new.onnx", check=False)
    assert report["parity"] is None and report["token_parity"] is None


def test_token_parity_allows_near_ties_only():
    logits = [np.log(np.array([[0.25, 0.25, 0.5]]))]  # cumulative 0.25, 0.5, 1.0
    want = np.array([[1]])
    # u = 0.49995: token 1 in Keras; token 2 elsewhere is a near tie (at 0.5)
    ties = exporters._compare_tokens("onnxruntime", want, np.array([[2]]), logits,
                                     np.array([[0.49995]]), 1.0, 1e-4, 0)
    assert ties == 1
    assert exporters._compare_tokens("onnxruntime", want, want, logits,
                                     np.array([[0.4]]), 1.0, 1e-4, 0) == 0
    # u = 0.4: token 1, far from a boundary: another token is a failure
    with pytest.raises(export.ExportError,
                       match="onnxruntime samples other tokens than Keras .* sequence 0, "
                             "token 1: 2 where Keras picks 1"):
        exporters._compare_tokens("onnxruntime", want, np.array([[2]]), logits,
                                  np.array([[0.4]]), 1.0, 1e-4, 0)


# ---------------------------------------------------------------- the kit
@pytest.mark.parametrize("function", ["sequence_uniforms", "pick_tokens", "check_temperature"])
def test_the_kit_copies_the_seed_rule_of_kerasgan(function):
    def body(fn):  # the code, docstring left out
        tree = ast.parse(inspect.getsource(fn)).body[0]
        if ast.get_docstring(tree) is not None:
            tree.body = tree.body[1:]
        return ast.dump(tree)

    assert body(getattr(onnx_generator, function)) == body(getattr(sampling, function))


def test_the_kit_samples_and_refuses_as_kerasgan_does():
    rng = np.random.default_rng(0)
    for seed in (0, 1, [3, 4], None):
        if seed is not None:
            np.testing.assert_array_equal(onnx_generator.sequence_uniforms(7, 5, seed),
                                          sampling.sequence_uniforms(7, 5, seed))
    for temperature in (1.0, 0.3, 4.0):
        logits = rng.standard_normal((50, 9)).astype("float32") * 3
        u = rng.random(50)
        np.testing.assert_array_equal(onnx_generator.pick_tokens(logits, u, temperature),
                                      sampling.pick_tokens(logits, u, temperature))
    for bad in (0, -1, 0.0, float("nan"), float("inf"), "x", True, None, "0"):
        with pytest.raises(ValueError) as kit_error:
            onnx_generator.check_temperature(bad)
        with pytest.raises(ValueError) as ours:
            sampling.check_temperature(bad)
        assert str(kit_error.value) == str(ours.value)
        assert "temperature must be a number > 0" in str(kit_error.value)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A word-vocabulary MLE model exported, with what it must reproduce."""
    keras.backend.clear_session()
    root = tmp_path_factory.mktemp("text_kit")
    gan, vocab = text_model("mle")
    export.export_onnx(gan, root / "mle.onnx", dataset="sentences.txt")
    return {"root": root, "gan": gan, "vocab": vocab, "model": root / "mle.onnx"}


def test_the_kit_refuses_bad_text_requests(exported):
    kit = OnnxGenerator(exported["model"])
    for bad in (0, -0.5, float("nan")):
        with pytest.raises(ValueError, match="temperature must be a number > 0"):
            kit.generate(3, seed=0, temperature=bad)
    with pytest.raises(ValueError, match="makes text: it takes n, seed and temperature"):
        kit.generate(3, seed=0, labels=1)
    with pytest.raises(ValueError, match="n must be a positive number of sentences"):
        kit.generate_text(0)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        kit.generate_text(2, seed=-1)
    with pytest.raises(ValueError, match="token by token"):
        kit.sample_inputs(2, seed=0)
    size = len(exported["vocab"])
    states = [np.zeros((2, 8), np.float32)] * 2
    out_of_range = rf"input 'token': token ids must be in \[0, {size}\)"
    with pytest.raises(ValueError, match=out_of_range):
        kit.step(np.array([0, size]), states)
    with pytest.raises(ValueError, match=out_of_range):  # ONNX Runtime would wrap it around
        kit.step(np.array([-1, 2]), states)
    logits, states = kit.step(np.array([1, 1], np.int32))  # zero states by default
    assert logits.shape == (2, size) and [s.shape for s in states] == [(2, 8), (2, 8)]


def test_generate_prints_sentences_without_tensorflow(exported, tmp_path):
    gan = exported["gan"]
    expected = gan.generate(10, seed=0, temperature=0.8)
    baseline, report = tmp_path / "baseline.txt", tmp_path / "modules.txt"
    kit_python("-c", "pass", env={"NO_TF_REPORT": str(baseline)})
    result = kit_python(os.path.join(KIT, "generate.py"), exported["model"], "--n", 10,
                        "--seed", 0, "--temperature", 0.8, env={"NO_TF_REPORT": str(report)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:-1] == expected.texts  # one sentence a line
    imported = set(report.read_text().split()) - set(baseline.read_text().split())
    assert {"numpy", "onnxruntime"} <= imported and "onnx" not in imported

    out, npy = tmp_path / "sentences.txt", tmp_path / "ids.npy"
    result = kit_python(os.path.join(KIT, "generate.py"), exported["model"], "--n", 25,
                        "--seed", 3, "--out", out, "--npy", npy)
    assert result.returncode == 0, result.stderr
    expected = gan.generate(25, seed=3)  # temperature 1.0 by default
    assert out.read_text(encoding="utf-8").split("\n") == expected.texts + [""]
    np.testing.assert_array_equal(np.load(npy), expected.ids)
    assert "wrote 25 mle sentences" in result.stderr

    result = kit_python(os.path.join(KIT, "generate.py"), exported["model"], "--info")
    meta = json.loads(result.stdout)
    assert meta["kind"] == "token_sequence" and meta["dataset"] == "sentences.txt"
    assert meta["vocabulary"]["tokens"] == exported["vocab"].tokens


@pytest.mark.parametrize("extra,message", [
    (["--temperature", "0"], "temperature must be a number > 0"),
    (["--temperature", "-1"], "temperature must be a number > 0"),
    (["--temperature", "nan"], "temperature must be a number > 0"),
    (["--temperature", "warm"], "temperature must be a number > 0"),
    (["--label", "3"], "makes text: drop --label"),
    (["--nrow", "3"], "makes text: drop --nrow"),
    (["--out", "OUT.png"], "--out takes a text file"),
    (["--n", "0"], "--n must be at least 1"),
])
def test_generate_refuses_bad_text_options(exported, tmp_path, extra, message):
    extra = [str(tmp_path / "grid.png") if e == "OUT.png" else e for e in extra]
    result = kit_python(os.path.join(KIT, "generate.py"), exported["model"], *extra)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and message in result.stderr, result.stderr
    assert result.stdout == "" and listing(tmp_path) == []


@pytest.fixture(scope="module")
def server(exported):
    started = Server(exported["model"], "--max-n", 32)
    yield started
    started.stop()


def test_server_returns_sentences(server, exported):
    gan = exported["gan"]
    status, headers, body = server.get("/generate?n=6&seed=3&temperature=0.8")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    answer = json.loads(body)
    expected = gan.generate(6, seed=3, temperature=0.8)
    assert answer["texts"] == expected.texts and answer["ids"] == expected.ids.tolist()
    assert answer["seed"] == 3 and answer["temperature"] == 0.8 and headers["X-Seed"] == "3"
    status, headers, body = server.get("/generate")  # defaults: 16, a random seed, 1.0
    answer = json.loads(body)
    assert status == 200 and len(answer["texts"]) == 16 and answer["temperature"] == 1.0
    seed = int(headers["X-Seed"])
    assert answer["ids"] == gan.generate(16, seed=seed).ids.tolist()
    status, _, body = server.get("/metadata")
    assert status == 200 and json.loads(body)["vocabulary"]["tokens"] == exported["vocab"].tokens
    assert server.get("/health")[0] == 200


@pytest.mark.parametrize("query,message", [
    ("temperature=0", "temperature must be a number > 0"),
    ("temperature=-1", "temperature must be a number > 0"),
    ("temperature=abc", "temperature must be a number > 0"),
    ("temperature=nan", "temperature must be a number > 0"),
    ("temperature=inf", "temperature must be a number > 0"),
    ("temperature=", "temperature must be a number > 0"),
    ("temperature=1&temperature=2", "given more than once"),
    ("n=0", r"n must be in \[1, 32\]"),
    ("n=33", r"n must be in \[1, 32\]"),
    ("seed=-1", "seed must be in"),
    ("label=3", "unknown parameter label: use n, seed, temperature"),
    ("scale=2", "unknown parameter scale"),
])
def test_server_bad_text_requests_are_400(server, query, message):
    import re

    status, headers, body = server.get("/generate?" + query)
    assert status == 400, body
    assert headers["Content-Type"] == "application/json"
    assert re.search(message, json.loads(body)["error"]), body
    assert server.get("/health")[0] == 200  # still serving
