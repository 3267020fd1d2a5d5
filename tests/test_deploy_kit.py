"""The TensorFlow-free deployment kit (`export/`), run in a Python that cannot
import TensorFlow: generate.py, the kit as a library (serve.py's tests:
tests/test_serve.py)."""

import io
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

import keras
import numpy as np
import pytest
from PIL import Image

from kerasgan import export, models
from kerasgan.images import make_grid

from conftest import REPO
from test_export import conditional_generator, perturb

KIT = os.path.join(REPO, "export")
NO_TF = os.path.join(REPO, "tests", "no_tf.py")


def kit_python(*args, env=None, **kwargs):
    """Runs ``python tests/no_tf.py ARGS``: TensorFlow, Keras, kerasgan, onnx blocked."""
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, NO_TF, *map(str, args)], capture_output=True,
                          text=True, env=full_env, timeout=120, **kwargs)


def png_array(data):
    return np.asarray(Image.open(io.BytesIO(data) if isinstance(data, bytes) else data))


def assert_same_grid(png, images, nrow=None):
    """The PNG shows ``images``: pixels equal up to rare +-1 rounding flips."""
    grid = make_grid(images, nrow=nrow)
    grid = grid[..., 0] if grid.shape[-1] == 1 else grid
    diff = np.abs(png_array(png).astype(int) - grid)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.005, (diff.max(), (diff > 0).mean())


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """An unconditional DCGAN and a conditional generator, exported, with the
    Keras images they must reproduce."""
    keras.backend.clear_session()
    root = tmp_path_factory.mktemp("kit")
    gan = models.DCGAN(image_shape=(8, 8, 1), latent_dim=8, width=4, seed=0)
    perturb(gan.generator)
    export.export_onnx(gan, root / "dcgan.onnx", dataset="mnist-10k")
    cond = conditional_generator(num_classes=10)
    perturb(cond)
    export.export_onnx(cond, root / "cgan.onnx", num_classes=10, family="toy_cgan")

    def cond_images(n, seed, label):
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n, 6)).astype("float32")  # labels given: no draw
        return cond.predict_on_batch([z, np.full((n,), label, "int32")])

    return {
        "root": root,
        "dcgan": root / "dcgan.onnx",
        "cgan": root / "cgan.onnx",
        "dcgan_images": lambda n, seed: gan.generate(n, seed=seed),
        "cgan_images": cond_images,
    }


def test_the_kit_cannot_import_tensorflow():
    result = kit_python("-c", "import tensorflow")
    assert result.returncode != 0 and "tensorflow is not available" in result.stderr
    result = kit_python("-c", "import kerasgan")
    assert result.returncode != 0 and "kerasgan is not available" in result.stderr


def test_generate_matches_keras_without_tensorflow(exported, tmp_path):
    baseline = tmp_path / "baseline.txt"
    kit_python("-c", "pass", env={"NO_TF_REPORT": str(baseline)})
    report = tmp_path / "modules.txt"
    out, npy = tmp_path / "grid.png", tmp_path / "images.npy"
    result = kit_python(os.path.join(KIT, "generate.py"), exported["dcgan"], "--n", 10,
                        "--seed", 4, "--out", out, "--npy", npy,
                        env={"NO_TF_REPORT": str(report)})
    assert result.returncode == 0, result.stderr
    assert "wrote 10 dcgan images" in result.stdout
    expected = exported["dcgan_images"](10, 4)
    np.testing.assert_allclose(np.load(npy), expected, atol=1e-4)
    assert_same_grid(out, expected)
    # what the kit imported beyond interpreter start-up: numpy, onnxruntime, Pillow
    # (and onnxruntime's own requirements)
    imported = set(report.read_text().split()) - set(baseline.read_text().split())
    allowed = {"numpy", "onnxruntime", "PIL", "onnx_generator", "synthetic", "flatbuffers",
               "packaging", "google", "cython_runtime", "coloredlogs", "humanfriendly", "sympy", "mpmath"}
    assert {"numpy", "onnxruntime", "PIL"} <= imported
    assert imported <= allowed, imported - allowed

    # a conditional model takes --label
    result = kit_python(os.path.join(KIT, "generate.py"), exported["cgan"], "--n", 5,
                        "--seed", 2, "--label", 7, "--npy", npy)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(npy), exported["cgan_images"](5, 2, 7), atol=1e-4)

    result = kit_python(os.path.join(KIT, "generate.py"), exported["cgan"], "--info")
    assert result.returncode == 0 and json.loads(result.stdout)["num_classes"] == 10


def test_the_kit_is_importable(exported):
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from onnx_generator import OnnxGenerator;"
        "g = OnnxGenerator(sys.argv[2]);"
        "x = g.generate(3, seed=1, labels=\"random\");"
        "print(g.family, g.image_shape, g.num_classes, x.shape, x.dtype)"
    )
    result = kit_python("-c", code, KIT, exported["cgan"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "toy_cgan (8, 8, 3) 10 (3, 8, 8, 3) float32"


@pytest.mark.parametrize("case", ["missing", "empty", "truncated", "not_onnx", "foreign",
                                  "folder", "label_unconditional", "label_range",
                                  "label_missing", "n_zero", "bad_out"])
def test_generate_bad_input(case, exported, tmp_path):
    model, extra = exported["dcgan"], []
    if case == "missing":
        model, message = tmp_path / "nope.onnx", "no such file"
    elif case == "empty":
        model, message = tmp_path / "empty.onnx", "is empty"
        model.write_bytes(b"")
    elif case == "truncated":
        data = exported["dcgan"].read_bytes()
        model, message = tmp_path / "cut.onnx", "not a valid ONNX model.*truncated or corrupt"
        model.write_bytes(data[: len(data) // 2])
    elif case == "not_onnx":
        model, message = tmp_path / "readme.onnx", "not a valid ONNX model"
        model.write_bytes(open(os.path.join(REPO, "README.md"), "rb").read())
    elif case == "foreign":
        import onnx

        node = onnx.helper.make_node("Identity", ["x"], ["y"])
        graph = onnx.helper.make_graph(
            [node], "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
        model, message = tmp_path / "foreign.onnx", "not a kerasgan generator export"
        onnx.save(onnx.helper.make_model(graph), model)
    elif case == "folder":
        model, message = tmp_path, "is a folder"
    elif case == "label_unconditional":
        extra, message = ["--label", "3"], "unconditional: drop --label"
    elif case == "label_range":
        model, extra, message = exported["cgan"], ["--label", "10"], r"labels must be in \[0, 10\)"
    elif case == "label_missing":
        model, message = exported["cgan"], "class-conditional: pass --label C .* or --label random"
    elif case == "n_zero":
        extra, message = ["--n", "0"], "--n must be at least 1"
    elif case == "bad_out":
        extra, message = [], "--out must be a .png"
    out = tmp_path / ("grid.jpg" if case == "bad_out" else "grid.png")
    result = kit_python(os.path.join(KIT, "generate.py"), model, "--out", out, *extra)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert not out.exists()


class Server:
    """serve.py on a free port of 127.0.0.1 (tests/test_text_export.py uses it; the
    server's own tests are in tests/test_serve.py). ``get`` returns the headers as
    an ``email.message.Message``: names are case-insensitive (uvicorn sends them
    in lower case)."""

    def __init__(self, model, *args):
        self.proc = subprocess.Popen(
            [sys.executable, NO_TF, os.path.join(KIT, "serve.py"), str(model), "--port", "0",
             "--quiet", *map(str, args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
        line = self.proc.stdout.readline()
        if "serving" not in line:
            self.proc.kill()
            raise AssertionError(f"server did not start: {line}{self.proc.stderr.read()}")
        self.url = line.strip().split(" on ")[-1]
        assert self.url.startswith("http://127.0.0.1:")

    def get(self, path):
        try:
            with urllib.request.urlopen(self.url + path, timeout=60) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
