"""Exporters: every registered family to ONNX and SavedModel, parity, metadata, failures."""

import os
import sys

import keras
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tensorflow as tf

import kerasgan
from kerasgan import export, models
from kerasgan.export import exporters

from conftest import HEAVY_FAMILIES, REPO, slow_for

sys.path.insert(0, os.path.join(REPO, "export"))
from onnx_generator import OnnxGenerator  # noqa: E402

FAMILIES = models.names()
#: the token-sequence families export a step network: tests/test_text_export.py
IMAGE_FAMILIES = [n for n in FAMILIES if models.get_class(n).spec.kind != "token_sequence"]


def tiny(name, **overrides):
    cls = models.get_class(name)
    return cls(**dict(cls.tiny_config, **overrides))


def perturb(model, seed=1):
    """Moves every weight (batch-norm statistics included) off its initial value,
    so a wrong weight or a skipped layer shows in the outputs."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        value = w.numpy()
        if "variance" in w.path:
            w.assign(value + rng.uniform(0.5, 1.5, value.shape).astype(value.dtype))
        else:
            w.assign(value + 0.1 * rng.standard_normal(value.shape).astype(value.dtype))


def conditional_generator(num_classes=10, latent_dim=6):
    """A small class-conditional generator: inputs z and integer labels."""
    z = keras.Input((latent_dim,), name="z")
    labels = keras.Input((), dtype="int32", name="labels")
    e = keras.layers.Embedding(num_classes, latent_dim, name="embed")(labels)
    x = keras.layers.Concatenate()([z, e])
    x = keras.layers.Dense(4 * 4 * 8, name="project")(x)
    x = keras.layers.Reshape((4, 4, 8))(x)
    x = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", name="up")(x)
    images = keras.layers.Activation("tanh", name="images")(x)
    return keras.Model([z, labels], images, name="cond_generator")


def listing(directory):
    return sorted(os.listdir(directory))


@pytest.mark.parametrize("name", slow_for(*HEAVY_FAMILIES, names=IMAGE_FAMILIES))
def test_every_family_exports_with_parity_and_metadata(name, tmp_path):
    gan = tiny(name, seed=0, ema_decay=0.9)
    perturb(gan.generator, seed=1)
    perturb(gan.ema_generator, seed=2)  # the EMA weights differ from the raw ones
    onnx_path, sm_path = tmp_path / f"{name}.onnx", tmp_path / f"{name}_sm"

    report = export.export_onnx(gan, onnx_path, dataset="mnist-10k")
    assert 0 <= report["parity"]["onnxruntime"] <= 1e-4
    sm_report = export.export_saved_model(gan, sm_path, dataset="mnist-10k")
    assert 0 <= sm_report["parity"]["saved_model"] <= 1e-4
    assert listing(tmp_path) == sorted([onnx_path.name, sm_path.name])  # no temporary files

    # metadata, in both formats
    meta = export.read_metadata(onnx_path)
    assert meta["family"] == name and meta["dataset"] == "mnist-10k"
    assert meta["latent_dim"] == gan.latent_dim and meta["num_classes"] == gan.num_classes
    assert meta["image_shape"] == list(gan.image_shape) and meta["value_range"] == [-1.0, 1.0]
    assert meta["layout"] == "NHWC" and meta["ema"] is True
    assert meta["inputs"] == gan.generator_inputs()
    assert meta["weights_sha256"] == export.weights_sha256(gan.ema_generator)
    assert meta["weights_sha256"] != export.weights_sha256(gan.generator)
    assert meta["kerasgan_version"] == kerasgan.__version__
    assert meta["tensorflow_version"] == tf.__version__ and meta["keras_version"] == keras.__version__
    assert meta["opset"] == export.DEFAULT_OPSET
    sm_meta = export.read_metadata(sm_path)
    assert {k: v for k, v in meta.items() if k not in ("opset", "tf2onnx_version")} == sm_meta

    # the ONNX graph: named inputs, a dynamic batch axis, passes the full checker
    proto = onnx.load(onnx_path)
    onnx.checker.check_model(proto, full_check=True)
    names = [spec["name"] for spec in gan.generator_inputs()]
    assert [i.name for i in proto.graph.input] == names
    assert [o.name for o in proto.graph.output] == ["images"]
    for value in (*proto.graph.input, proto.graph.output[0]):
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"

    # independent check: the same seed gives the Keras EMA generator's images
    random = "random" if gan.num_classes else None
    expected = gan.generate(5, seed=11, labels=random)
    feed = dict(zip(names, gan.sample_inputs(5, seed=11)))
    raw = gan.generator.predict_on_batch(list(feed.values()) if len(names) > 1
                                         else feed[names[0]])
    assert not np.allclose(expected, raw, atol=1e-3)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(["images"], feed)[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    loaded = tf.saved_model.load(str(sm_path))
    got_sm = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in feed.items()})
    np.testing.assert_allclose(got_sm["images"].numpy(), expected, atol=1e-4)
    kit = OnnxGenerator(onnx_path)
    np.testing.assert_allclose(kit.generate(5, seed=11, labels=random), expected, atol=1e-4)
    assert got.shape == (5, *gan.image_shape) and np.abs(got).max() <= 1.0
    # caller-fixed labels and codes mean the same in the kit as in Keras
    fixed = {}
    if gan.num_classes:
        fixed["labels"] = [0, 1, 2, 1, 0]
    if "c_cat" in names:
        fixed["codes"] = {"c_cat": 2, "c_cont": [0.5, -0.5]}
    if fixed:
        np.testing.assert_allclose(kit.generate(5, seed=3, **fixed),
                                   gan.generate(5, seed=3, **fixed), atol=1e-4)


def test_export_writes_both_formats_with_one_call(tmp_path):
    gan = tiny("dcgan", seed=0)
    reports = export.export(gan, tmp_path / "out")
    assert [r["format"] for r in reports] == ["onnx", "saved_model"]
    assert listing(tmp_path / "out") == ["dcgan.onnx", "dcgan_savedmodel"]
    assert export.read_metadata(tmp_path / "out" / "dcgan.onnx")["ema"] is False
    with pytest.raises(export.ExportError, match="unknown export format.*tflite"):
        export.export(gan, tmp_path / "x", formats=("tflite",))
    with pytest.raises(export.ExportError, match="export name"):
        export.export(gan, tmp_path / "x", name="../evil")
    with pytest.raises(export.ExportError, match="must end in .onnx"):
        export.export_onnx(gan, tmp_path / "model.pb")


def test_conditional_generator_exports_labels_input(tmp_path):
    generator = conditional_generator(num_classes=10)
    with pytest.raises(export.ExportError, match="'labels' is integer.*num_classes"):
        export.export_onnx(generator, tmp_path / "c.onnx")
    assert listing(tmp_path) == []
    export.export_onnx(generator, tmp_path / "c.onnx", num_classes=10, family="toy_cgan")
    export.export_saved_model(generator, tmp_path / "c_sm", num_classes=10, family="toy_cgan")
    meta = export.read_metadata(tmp_path / "c.onnx")
    assert meta["num_classes"] == 10 and meta["family"] == "toy_cgan" and meta["ema"] is None
    assert [s["name"] for s in meta["inputs"]] == ["z", "labels"]
    kit = OnnxGenerator(tmp_path / "c.onnx")
    z = np.random.default_rng(0).standard_normal((6, 6)).astype("float32")
    labels = np.array([0, 1, 2, 7, 8, 9], dtype="int32")
    expected = generator.predict_on_batch([z, labels])
    np.testing.assert_allclose(kit.run({"z": z, "labels": labels}), expected, atol=1e-4)
    loaded = tf.saved_model.load(str(tmp_path / "c_sm"))
    got = loaded.signatures["serving_default"](z=tf.constant(z), labels=tf.constant(labels))
    np.testing.assert_allclose(got["images"].numpy(), expected, atol=1e-4)
    # labels change the images
    assert not np.allclose(kit.run({"z": z, "labels": labels[::-1].copy()}), expected, atol=1e-3)


def test_parity_failure_leaves_nothing_and_keeps_a_previous_export(tmp_path, monkeypatch):
    gan = tiny("dcgan", seed=0)
    target = tmp_path / "dcgan.onnx"
    export.export_onnx(gan, target)
    good = target.read_bytes()
    sm_target = tmp_path / "dcgan_sm"
    export.export_saved_model(gan, sm_target)
    sm_good = (sm_target / "saved_model.pb").read_bytes()

    def off_by(runner_factory, delta):
        def factory(*args):
            run = runner_factory(*args)
            return lambda inputs: run(inputs) + delta
        return factory

    monkeypatch.setattr(exporters, "_onnx_runner", off_by(exporters._onnx_runner, 1e-3))
    monkeypatch.setattr(exporters, "_saved_model_runner",
                        off_by(exporters._saved_model_runner, 1e-3))
    gan2 = tiny("dcgan", seed=1)
    with pytest.raises(export.ExportError, match=r"onnxruntime differs from Keras by 0\.001"):
        export.export_onnx(gan2, target)
    with pytest.raises(export.ExportError, match=r"saved_model differs from Keras by 0\.001"):
        export.export_saved_model(gan2, sm_target)
    assert target.read_bytes() == good  # the previous export is untouched
    assert (sm_target / "saved_model.pb").read_bytes() == sm_good
    assert listing(tmp_path) == ["dcgan.onnx", "dcgan_sm"]  # no temporary leftovers
    with pytest.raises(export.ExportError):
        export.export_onnx(gan2, tmp_path / "new.onnx")
    with pytest.raises(export.ExportError):
        export.export_saved_model(gan2, tmp_path / "new_sm")
    assert listing(tmp_path) == ["dcgan.onnx", "dcgan_sm"]
    # check=False skips the parity check
    assert export.export_onnx(gan2, tmp_path / "new.onnx", check=False)["parity"] is None
    assert export.read_metadata(tmp_path / "new.onnx")["weights_sha256"] == \
        export.weights_sha256(gan2.generator)


def test_unsupported_op_names_the_layer_and_the_op(tmp_path):
    class Bessel(keras.layers.Layer):
        def call(self, x):
            return tf.math.bessel_i0e(x)

    z = keras.Input((4,), name="z")
    x = keras.layers.Dense(2 * 2 * 3, name="project")(z)
    x = keras.layers.Reshape((2, 2, 3))(x)
    x = Bessel(name="odd_activation")(x)
    generator = keras.Model(z, x)
    with pytest.raises(export.ExportError,
                       match=r"layer 'odd_activation' \(Bessel\) uses the TensorFlow op BesselI0e"):
        export.export_onnx(generator, tmp_path / "g.onnx")
    assert listing(tmp_path) == []
    # TensorFlow itself runs it: the SavedModel export works
    export.export_saved_model(generator, tmp_path / "g_sm")
    assert listing(tmp_path) == ["g_sm"]


def test_bad_models_are_refused(tmp_path):
    z = keras.Input((4,), name="z")
    flat = keras.Model(z, keras.layers.Dense(3)(z))
    with pytest.raises(export.ExportError, match="one NHWC image output"):
        export.export_onnx(flat, tmp_path / "f.onnx")
    with pytest.raises(export.ExportError, match="kerasgan GAN or a Keras generator"):
        export.export_onnx("not a model", tmp_path / "f.onnx")
    assert listing(tmp_path) == []
    # a foreign ONNX file has no kerasgan metadata
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    graph = onnx.helper.make_graph(
        [node], "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    onnx.save(onnx.helper.make_model(graph), tmp_path / "foreign.onnx")
    with pytest.raises(export.ExportError, match="no kerasgan metadata"):
        export.read_metadata(tmp_path / "foreign.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00\xffnot onnx" * 10)
    with pytest.raises(export.ExportError, match="not a readable ONNX model"):
        export.read_metadata(tmp_path / "junk.onnx")
