"""Family specs: one generic CLI path, no family named outside kerasgan/models/,
a new family in one file, docs that list the registry, a fast quiet command."""

import importlib.util
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import kerasgan
from kerasgan import cli, models
from kerasgan.spec import KINDS, BATCHES, FamilySpec, Option, OptionError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "kerasgan")


def _family_words():
    """Every registered family name, as the words a module would use for it
    (``wgan_gp`` also as ``wgan-gp`` and ``wgangp``)."""
    words = set()
    for name in models.names():
        words |= {name, name.replace("_", "-"), name.replace("_", "")}
    return words


def test_no_module_outside_models_names_a_family():
    pattern = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(
        sorted(map(re.escape, _family_words()), key=len, reverse=True))
        # ``seqgan-oracle`` is a data folder (../shared/data), not a family
        + r")(?![A-Za-z0-9_])(?!-oracle)",
        re.IGNORECASE)
    found = []
    for root, _, files in os.walk(PACKAGE):
        if os.path.abspath(root).startswith(os.path.join(PACKAGE, "models")):
            continue
        for fname in files:
            if not fname.endswith(".py"):
                continue
            path = os.path.join(root, fname)
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    for match in pattern.finditer(line):
                        found.append(f"{os.path.relpath(path, REPO)}:{number}: {match.group(0)}")
    assert not found, "family names outside kerasgan/models/:\n" + "\n".join(found)


@pytest.mark.parametrize("name", models.names())
def test_every_family_declares_a_complete_spec(name):
    cls = models.get_class(name)
    spec = cls.spec
    assert isinstance(spec, FamilySpec) and spec.kind in KINDS and spec.batch in BATCHES
    assert spec.summary and spec.references
    import inspect

    for option in spec.options:
        assert option.help, (name, option.name)
        assert option.type in (int, float, str, bool), (name, option.name)
        # every option is a constructor argument (of the class or its kind's base)
        accepted = set()
        for klass in cls.__mro__:
            if "__init__" in klass.__dict__:
                accepted |= set(inspect.signature(klass.__dict__["__init__"]).parameters)
        assert option.name in accepted, (name, option.name)
    # the spec's defaults are the constructor's
    params = inspect.signature(cls.__init__).parameters
    for option in spec.options:
        if option.name in params and params[option.name].default is not inspect.Parameter.empty:
            default = params[option.name].default
            assert option.default == (list(default) if isinstance(default, tuple) else default)


def test_option_parsing_and_errors():
    width = Option("width", int, 64, "network width", minimum=1)
    assert width.parse("8") == 8 and width.flag == "--width"
    for text, message in (("x", "--width must be an integer, got 'x'"),
                          ("0", "--width must be at least 1, got 0")):
        with pytest.raises(OptionError, match=re.escape(message)):
            width.parse(text)
    content = Option("content", str, "pixel", "content loss", choices=("pixel", "vgg19"))
    with pytest.raises(OptionError, match="must be one of pixel, vgg19"):
        content.parse("vgg16")
    with pytest.raises(OptionError, match="finite"):
        Option("gp_weight", float, 10.0, "gp").parse("nan")
    with pytest.raises(ValueError, match="kind must be one of"):
        FamilySpec(kind="noise", batch="images", summary="x")


def _train_help(name, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", name, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", models.names())
def test_train_help_shows_the_family_options_only(name, capsys):
    text = _train_help(name, capsys)
    spec = models.get_class(name).spec
    for option in spec.options:
        assert option.flag in text, (name, option.flag)
    others = {o.flag for n in models.names() for o in models.get_class(n).spec.options}
    for flag in others - {o.flag for o in spec.options}:
        assert re.search(re.escape(flag) + r"(?![\w-])", text) is None, (name, flag)
    assert "(default: 5)" in text  # --epochs, with its default
    if "epochs" in spec.recommended:
        assert f"recommended for this family: {spec.recommended['epochs']}" in text


@pytest.mark.parametrize("args, expected", [
    (["train", "infogan", "--g-width", "8"], "--g-width does not apply to infogan: use --width"),
    (["train", "sngan", "--width", "4"],
     "--width does not apply to sngan: use --g-width / --d-width"),
    (["train", "dcgan", "--direction", "BtoA"],
     "--direction does not apply to dcgan: it is an option of image-to-image families"),
    (["train", "dcgan", "--scale", "4"], "--scale does not apply to dcgan: it is an option of srgan"),
    (["train", "pix2pix", "--d-steps", "2"], "--d-steps does not apply to pix2pix"),
    (["train", "srgan", "--jitter"], "--jitter does not apply to srgan"),
    # its gradient penalty replaces R1 (spec.excluded_common_options)
    (["train", "wgan_gp", "--r1-gamma", "1"], "--r1-gamma does not apply to wgan_gp"),
])
def test_an_option_that_does_not_apply_is_one_line_from_the_spec(args, expected, tmp_path,
                                                                  capsys):
    assert cli.main([*args, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kerasgan: error: ") and expected in err[0], err
    assert not (tmp_path / "r").exists()


def test_unknown_flags_are_still_argparse_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "dcgan", "--no-such-flag", "--out", str(tmp_path / "r")])
    assert info.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_sample_refuses_a_huge_count_before_allocating(tmp_path, capsys):
    assert cli.main(["sample", str(tmp_path / "nothing"), "--n", "1000000000",
                     "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--n 1000000000 is more samples than a grid can hold" in err[0]


# ---------------------------------------------------------------- a new family in one file
_FAMILY_FILE = '''
"""A throwaway family, written as a user would add one under kerasgan/models/."""

import keras

from kerasgan.gan import GAN
from kerasgan.models import register
from kerasgan.spec import LATENT_TO_IMAGE, FamilySpec, Option


@register("throwaway")
@keras.saving.register_keras_serializable(package="kerasgan_test")
class Throwaway(GAN):
    """Two dense layers each way."""

    spec = FamilySpec(kind=LATENT_TO_IMAGE, batch="images", summary="a test family",
                      options=(Option("latent_dim", help="size of z", minimum=1),
                               Option("hidden", help="hidden units", minimum=1)),
                      references=("none",))

    def __init__(self, image_shape=(28, 28, 1), latent_dim=8, hidden=16, **kwargs):
        self.image_shape = tuple(int(d) for d in image_shape)
        self.hidden = int(hidden)
        h, w, c = self.image_shape
        z = keras.Input((latent_dim,), name="z")
        x = keras.layers.Dense(hidden, activation="relu")(z)
        x = keras.layers.Dense(h * w * c, activation="tanh")(x)
        generator = keras.Model(z, keras.layers.Reshape(self.image_shape)(x), name="generator")
        images = keras.Input(self.image_shape, name="images")
        y = keras.layers.Dense(1)(keras.layers.Dense(hidden, activation="relu")(
            keras.layers.Flatten()(images)))
        discriminator = keras.Model(images, y, name="discriminator")
        super().__init__(generator, discriminator, latent_dim=latent_dim, **kwargs)

    def get_config(self):
        return {**super().get_config(), "image_shape": list(self.image_shape),
                "hidden": self.hidden}
'''


@pytest.fixture
def throwaway_family(tmp_path):
    path = tmp_path / "throwaway.py"
    path.write_text(_FAMILY_FILE)
    spec = importlib.util.spec_from_file_location("kerasgan_throwaway_family", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module.Throwaway
    models.unregister("throwaway")


def test_a_new_family_in_one_file_trains_samples_and_exports(throwaway_family, tmp_path, capsys):
    assert "throwaway" in models.names()
    run = tmp_path / "run"
    keras.backend.clear_session()
    assert cli.main(["train", "throwaway", "--epochs", "1", "--batch-size", "1000",
                     "--hidden", "8", "--out", str(run), "--quiet"]) == 0
    record = kerasgan.run.RunRecord.find(run)
    assert record.family == "throwaway" and record.model["hidden"] == 8
    assert record.model["image_shape"] == [28, 28, 1]  # from the data, through the batch kind
    assert (run / "samples" / "epoch_0001.png").exists()
    assert cli.main(["sample", str(run), "--n", "4", "--seed", "1",
                     "--out", str(tmp_path / "g.png")]) == 0
    gan = kerasgan.run.load_run(run)
    from kerasgan.images import make_grid

    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "g.png")).reshape(make_grid(gan.generate(4, seed=1)).shape),
        make_grid(gan.generate(4, seed=1)))
    assert cli.main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "x")]) == 0
    assert (tmp_path / "x" / "throwaway.onnx").exists()
    assert "parity max abs diff" in capsys.readouterr().out
    # its options come from its spec: --width is another family's
    assert cli.main(["train", "throwaway", "--width", "4", "--out", str(tmp_path / "y")]) == 2
    assert "--width does not apply to throwaway" in capsys.readouterr().err
    # and the command lists it
    assert cli.main(["families"]) == 0
    assert "throwaway" in capsys.readouterr().out.split()


# ---------------------------------------------------------------- docs list the registry
def family_table():
    """The Markdown table of families that README.md and docs/families.md carry."""
    rows = ["| family | kind | trains on | what it is |", "|---|---|---|---|"]
    for name in models.names():
        spec = models.get_class(name).spec
        rows.append(f"| `{name}` | {spec.kind.replace('_', ' ')} | {spec.batch.replace('_', ' ')} "
                    f"| {spec.summary} |")
    return "\n".join(rows)


@pytest.mark.parametrize("doc", ["README.md", "docs/families.md"])
def test_docs_list_exactly_the_registered_families(doc):
    text = open(os.path.join(REPO, doc), encoding="utf-8").read()
    found = re.search(r"<!-- families:start -->\n(.*?)\n<!-- families:end -->", text, re.S)
    assert found, f"{doc} has no <!-- families:start --> ... <!-- families:end --> table"
    assert found.group(1).strip() == family_table(), (
        f"{doc}'s family table differs from the registry; regenerate it with "
        "`python -c 'import tests.test_family_spec as t; print(t.family_table())'`")


# ---------------------------------------------------------------- a fast, quiet command
@pytest.mark.parametrize("args", [["--help"], ["--version"], ["families"], ["train", "--help"]])
def test_help_version_and_families_do_not_import_tensorflow(args):
    code = ("import sys, runpy; sys.argv = ['kerasgan'] + %r\n"
            "try:\n    runpy.run_module('kerasgan.cli', run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, "
            "sorted(m for m in sys.modules if m.startswith(('tensorflow', 'keras')))[:5]\n" % args)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()


def test_the_command_keeps_tensorflow_start_up_noise_out(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kerasgan.cli", "metrics"], capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "fid10k" in proc.stdout.split()
    # train imports TensorFlow while building the family's parser, and starts its
    # runtime only when making the strategy: both quiet
    train = subprocess.run([sys.executable, "-m", "kerasgan.cli", "train", "dcgan", "--epochs",
                            "1", "--width", "4", "--latent-dim", "8", "--batch-size", "2000",
                            "--quiet", "--out", str(tmp_path / "run")],
                           capture_output=True, text=True, timeout=300, cwd=REPO)
    assert train.returncode == 0, train.stderr[-2000:]
    # the CPU configuration chosen is recorded with the run (kerasgan/cpu.py)
    with open(tmp_path / "run" / "run.json") as f:
        chosen = json.load(f)["cpu"]
    assert chosen["onednn_active"] in (True, False) and "xla" in chosen
    for out in (proc, train):
        for noise in ("cuda", "cuInit", "oneDNN", "absl::InitializeLog", "cpu_feature_guard"):
            assert noise not in out.stderr, out.stderr
    verbose = subprocess.run([sys.executable, "-m", "kerasgan.cli", "--verbose", "metrics"],
                             capture_output=True, text=True, timeout=300, cwd=REPO)
    assert verbose.returncode == 0 and "fid10k" in verbose.stdout.split()
