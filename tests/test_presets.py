"""Presets (kerasgan.zoo.preset): save_to_preset writes a folder (config, weights,
metadata with versions and the sha256 of every file); from_preset loads it from a
folder, hf:// (huggingface_hub) or kaggle:// (kagglehub), verified file by file.

The hf:// and kaggle:// tests run the official clients against servers of the
test on 127.0.0.1 that answer the requests those clients make (no other network).
"""

import hashlib
import http.server
import json
import os
import re
import shutil
import sys
import threading
import urllib.parse

import numpy as np
import pytest

from kerasgan import models, zoo
from kerasgan.vocabulary import Vocabulary
from kerasgan.zoo import CatalogError
from kerasgan.zoo.preset import PresetError, load_preset, save_to_preset

from conftest import require

WORDS = ["a man rides a horse", "a dog runs on the beach", "two cats sleep on a bed"]


def _image_model():
    cls = models.get_class("dcgan")
    return cls(image_shape=(28, 28, 1), latent_dim=8, width=4, seed=3)


def _text_model():
    cls = models.get_class("mle")
    config = dict(cls.tiny_config, vocabulary=Vocabulary.build(WORDS).to_json())
    config["vocab_size"] = len(config["vocabulary"]["tokens"])
    return cls(**config)


def _outputs(gan):
    if hasattr(gan, "vocabulary"):
        return gan.generate(6, seed=0).ids
    return gan.generate(6, seed=0)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """``{kind: (model, preset folder)}``: a tiny image and a tiny text model, saved."""
    root = tmp_path_factory.mktemp("presets")
    out = {}
    for kind, build in (("image", _image_model), ("text", _text_model)):
        gan = build()
        folder = gan.save_to_preset(str(root / kind), metrics={"fd2k_mnist": 1.5})
        out[kind] = (gan, folder)
    return out


@pytest.fixture
def copy_of(saved, tmp_path):
    def copy(kind="image"):
        return shutil.copytree(saved[kind][1], tmp_path / f"copy-{kind}")
    return copy


@pytest.mark.parametrize("kind", ["image", "text"])
def test_save_then_load_gives_the_same_generator(saved, kind):
    gan, folder = saved[kind]
    names = sorted(os.listdir(folder))
    expected = ["README.md", "config.json", "generator.weights.h5", "metadata.json"]
    assert names == sorted(expected + (["vocabulary.json"] if kind == "text" else []))
    config = json.load(open(os.path.join(folder, "config.json")))
    assert config["format"] == "kerasgan-preset/1" and config["family"] == gan.family
    assert "seed" not in config["config"] and "vocabulary" not in config["config"]
    metadata = json.load(open(os.path.join(folder, "metadata.json")))
    assert set(metadata["versions"]) == {"kerasgan", "keras", "tensorflow", "python"}
    assert metadata["metrics"] == {"fd2k_mnist": 1.5} and metadata["parameters"] > 0
    assert sorted(metadata["files"]) == [n for n in names if n != "metadata.json"]
    loaded = zoo.from_preset(folder)  # the folder, through the zoo's dispatch
    assert type(loaded) is type(gan)
    np.testing.assert_array_equal(_outputs(loaded), _outputs(gan))
    if kind == "text":
        assert loaded.vocabulary.to_json() == gan.vocabulary.to_json()
    # through the class method too; another family's class refuses it
    assert type(type(gan).from_preset(folder, progress=False)) is type(gan)
    other = models.WGANGP if kind == "image" else models.get_class("dcgan")
    with pytest.raises(ValueError, match=f"is a {gan.family} model, not a"):
        other.from_preset(folder)


@pytest.mark.parametrize("change,message", [
    (lambda f: _flip_byte(f / "generator.weights.h5"),
     r"generator\.weights\.h5 does not match its sha256 in metadata\.json"),
    (lambda f: os.remove(f / "config.json"),
     r"config\.json is missing \(listed in metadata\.json\)"),
    (lambda f: (f / "extra.keras").write_bytes(b"not listed"),
     r"extra\.keras is not listed in metadata\.json"),
    (lambda f: (f / "sub").mkdir() or (f / "sub" / "model.pkl").write_bytes(b"x"),
     r"sub/model\.pkl is not listed"),
    (lambda f: os.remove(f / "metadata.json"), r"no metadata\.json"),
    (lambda f: _flip_byte(f / "README.md"), r"README\.md does not match its sha256"),
])
def test_a_changed_preset_is_refused_and_nothing_loads(copy_of, change, message, monkeypatch):
    folder = copy_of()
    change(folder)
    built = []
    monkeypatch.setattr(models.get_class("dcgan"), "__init__",
                        lambda self, **kw: built.append(kw) or pytest.fail("built"))
    with pytest.raises(PresetError, match=message) as info:
        zoo.from_preset(str(folder))
    assert "\n" not in str(info.value) and not built


def test_a_listed_file_with_a_path_is_refused(copy_of):
    folder = copy_of()
    metadata = json.load(open(folder / "metadata.json"))
    metadata["files"]["../config.json"] = metadata["files"]["config.json"]
    (folder / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(PresetError, match="not a plain file name"):
        load_preset(str(folder))


def test_save_refuses_a_non_empty_folder_and_leaves_no_temporary(saved, tmp_path):
    gan, _ = saved["image"]
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(PresetError, match="exists and is not an empty folder") as info:
        save_to_preset(gan, str(target))
    assert "\n" not in str(info.value)
    assert os.listdir(target) == ["notes.txt"] and os.listdir(tmp_path) == ["taken"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert save_to_preset(gan, str(empty)) == str(empty)  # an empty folder is fine
    assert sorted(os.listdir(tmp_path)) == ["empty", "taken"]  # no .tmp- folder left


def test_handles_and_a_missing_client_are_one_line(monkeypatch):
    for bad in ("hf://just-a-name", "hf://a/b/c", "kaggle://a/b/c", "kaggle://a/b/c/d/x"):
        with pytest.raises(PresetError, match="not a .* handle"):
            zoo.from_preset(bad)
    with pytest.raises(PresetError, match="no preset folder ./nowhere"):
        load_preset("./nowhere")
    with pytest.raises(CatalogError, match="invalid zoo entry name './nowhere'"):
        zoo.from_preset("./nowhere")  # neither a folder nor a handle: an entry name
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    monkeypatch.setitem(sys.modules, "kagglehub", None)
    with pytest.raises(PresetError, match=r"pip install kerasgan\[hf\]$"):
        zoo.from_preset("hf://owner/name")
    with pytest.raises(PresetError, match=r"pip install kerasgan\[kaggle\]$"):
        zoo.from_preset("kaggle://owner/model/keras/tiny")


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------ servers on 127.0.0.1
class _Server:
    """A threaded HTTP server on 127.0.0.1 whose handler answers with ``route``."""

    def __init__(self, route):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
                server.requests.append(f"{method} {path}")
                status, headers, payload = route(method, path, body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(payload)

            def do_GET(self):
                self._answer("GET")

            def do_HEAD(self):
                self._answer("HEAD")

            def do_POST(self):
                self._answer("POST")

        self.requests = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _files(folder):
    return {name: open(os.path.join(folder, name), "rb").read() for name in os.listdir(folder)}


def _json(data, status=200):
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _hub_route(repo, files):
    """What the Hub answers to huggingface_hub's snapshot_download: the repo info,
    the file tree at the commit, and HEAD / GET of each file's resolve URL with the
    X-Repo-Commit and ETag headers the client requires."""
    def route(method, path, body):
        if path in (f"/api/models/{repo}/revision/main", f"/api/models/{repo}"):
            return _json({"id": repo, "sha": COMMIT,
                          "siblings": [{"rfilename": n} for n in sorted(files)]})
        if path == f"/api/models/{repo}/tree/{COMMIT}":
            return _json([{"type": "file", "path": n, "size": len(data),
                           "oid": hashlib.sha1(data).hexdigest()}
                          for n, data in sorted(files.items())])
        match = re.fullmatch(rf"/{re.escape(repo)}/resolve/{COMMIT}/(.+)", path)
        if match and match.group(1) in files:
            data = files[match.group(1)]
            return 200, {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                         "Content-Type": "application/octet-stream"}, data
        return _json({"error": f"not found: {path}"}, 404)
    return route


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """``serve(repo, files) -> server``: a Hub on 127.0.0.1 for huggingface_hub."""
    constants = require("huggingface_hub.constants",
                        "hf:// presets need huggingface_hub (the hf extra)")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    # huggingface_hub reads HF_HOME at import: point its cache at the test's folder too
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    servers = []

    def serve(repo, files):
        server = _Server(_hub_route(repo, files))
        servers.append(server)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        return server

    yield serve
    for server in servers:
        server.close()


def test_hf_handle_through_huggingface_hub(saved, hub):
    gan, folder = saved["image"]
    server = hub("someone/tiny-preset", _files(folder))
    loaded = zoo.from_preset("hf://someone/tiny-preset")
    np.testing.assert_array_equal(_outputs(loaded), _outputs(gan))
    assert "GET /api/models/someone/tiny-preset/revision/main" in server.requests
    assert f"HEAD /someone/tiny-preset/resolve/{COMMIT}/generator.weights.h5" in server.requests
    # a pinned revision (the commit) is passed through
    assert type(zoo.from_preset(f"hf://someone/tiny-preset@{COMMIT}")) is type(gan)


def test_hf_serving_a_tampered_file_is_refused(saved, hub):
    _, folder = saved["text"]
    files = _files(folder)
    weights = bytearray(files["generator.weights.h5"])
    weights[100] ^= 0x01
    files["generator.weights.h5"] = bytes(weights)
    hub("someone/tampered", files)
    with pytest.raises(PresetError, match=r"hf://someone/tampered: generator\.weights\.h5 does "
                                          r"not match its sha256"):
        zoo.from_preset("hf://someone/tampered")


def test_hf_unknown_repository_is_one_line(hub):
    hub("someone/present", {})
    with pytest.raises(PresetError, match="hf://someone/absent: could not download it") as info:
        zoo.from_preset("hf://someone/absent")
    assert "\n" not in str(info.value)


def _kaggle_route(files):
    """What Kaggle's API answers to kagglehub's model_download (kagglesdk's
    ModelApiService: the instance's current version, its file list, each file)."""
    def route(method, path, body):
        request = json.loads(body or b"{}")
        service = "/api/v1/models.ModelApiService/"
        if method != "POST" or not path.startswith(service):
            return _json({"code": 404, "message": f"not found: {path}"}, 404)
        call = path[len(service):]
        if call == "GetModelInstance":
            return _json({"slug": request.get("instanceSlug", ""), "versionNumber": 2})
        if call == "ListModelInstanceVersionFiles":
            return _json({"files": [{"name": n, "size": len(d)} for n, d in sorted(files.items())],
                          "nextPageToken": ""})
        if call == "DownloadModelInstanceVersion" and request.get("path") in files:
            return 200, {"Content-Type": "application/octet-stream"}, files[request["path"]]
        return _json({"code": 404, "message": f"no {call} for {request}"}, 404)
    return route


def test_kaggle_handle_through_kagglehub(saved, tmp_path, monkeypatch):
    require("kagglehub", "kaggle:// presets need kagglehub (the kaggle extra)")
    from kagglesdk import kaggle_env

    gan, folder = saved["text"]
    server = _Server(_kaggle_route(_files(folder)))
    try:
        # kagglesdk picks its endpoint by KAGGLE_API_ENVIRONMENT from a table
        # (LOCALHOST: http://localhost); the table's entry points at the test's port
        monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "LOCALHOST")
        monkeypatch.setitem(kaggle_env._env_to_endpoint, kaggle_env.KaggleEnv.LOCAL, server.url)
        monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kaggle"))
        monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))
        monkeypatch.setenv("KAGGLE_USERNAME", "someone")
        monkeypatch.setenv("KAGGLE_KEY", "0" * 32)
        monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)
        loaded = zoo.from_preset("kaggle://someone/tiny/keras/mle")
        np.testing.assert_array_equal(_outputs(loaded), _outputs(gan))
        assert loaded.vocabulary.to_json() == gan.vocabulary.to_json()
        calls = {r.rsplit("/", 1)[1] for r in server.requests}
        assert calls == {"GetModelInstance", "ListModelInstanceVersionFiles",
                         "DownloadModelInstanceVersion"}
        assert os.path.isdir(tmp_path / "kaggle" / "models" / "someone" / "tiny" / "keras" /
                             "mle" / "2")
    finally:
        server.close()


def test_save_from_a_keras_file(saved, tmp_path):
    gan, _ = saved["text"]
    gan.save(str(tmp_path / "gan.keras"))
    folder = save_to_preset(str(tmp_path / "gan.keras"), str(tmp_path / "preset"),
                            card="# My card\n")
    assert open(os.path.join(folder, "README.md")).read() == "# My card\n"
    np.testing.assert_array_equal(_outputs(load_preset(folder)), _outputs(gan))
