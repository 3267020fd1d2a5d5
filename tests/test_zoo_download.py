"""kerasgan.zoo.download against a real HTTP server on 127.0.0.1 (no other network).

The server is a ThreadingHTTPServer on port 0 whose handler misbehaves on
demand: 404/403, wrong content, a wrong size, transfers cut short (FIN or RST),
no Range support, a stall, a slow transfer. Content is random bytes in files
named like ``x.weights.h5``: the client checks only bytes.
"""

import hashlib
import http.server
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

from kerasgan import companion
from kerasgan.zoo import ZooMirrorWarning, download
from kerasgan.zoo.download import ZooDownloadError, fetch, sources, verify

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELPATH = "dcgan-test/generator.weights.h5"
SIZE = 200_003


def _content(seed=0, size=SIZE):
    return np.random.RandomState(seed).bytes(size)


def _sha(data):
    return hashlib.sha256(data).hexdigest()


GOOD = _content()
GOOD_SHA = _sha(GOOD)


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server.owner
        with srv.lock:
            srv.requests.append({"path": self.path, "range": self.headers.get("Range")})
            count = sum(r["path"] == self.path for r in srv.requests)
        mode = srv.mode
        if mode == "stall":
            time.sleep(srv.stall_s)
        key = self.path[len(srv.prefix):] if self.path.startswith(srv.prefix) else None
        body = srv.files.get(key)
        if mode in ("404", "403") or body is None:
            self.send_error(403 if mode == "403" else 404)
            return
        announced = len(body) if srv.announce is None else srv.announce
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and srv.ranges and int(match.group(1)) < len(body):
            start = int(match.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{announced}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(announced - start))
        self.end_headers()
        cut = mode == "cut-always" or (mode == "cut-once" and count == 1)
        if cut:
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            if srv.reset:  # close with RST instead of FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
            return
        if mode == "slow":
            step = len(payload) // 10 + 1
            for i in range(0, len(payload), step):
                self.wfile.write(payload[i:i + step])
                self.wfile.flush()
                time.sleep(0.1)
            return
        self.wfile.write(payload)


class _Server:
    """A zoo mirror on 127.0.0.1; ``mode`` and friends can change between calls."""

    def __init__(self, files, mode="ok", prefix="/zoo/"):
        self.files, self.mode, self.prefix = dict(files), mode, prefix
        self.ranges, self.reset, self.announce, self.stall_s = True, False, None, 2.0
        self.requests, self.lock = [], threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{prefix}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def no_installed_companion(monkeypatch):
    """These tests name every source; an installed kerasgan-zoo-files would add one."""
    real = companion.folder
    monkeypatch.setattr(companion, "folder",
                        lambda c: None if c == companion.ZOO_FILES else real(c))


@pytest.fixture
def serve(monkeypatch):
    """``serve(files, mode)`` starts a server; all are stopped at the end."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY", download.ENV_VAR):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(download, "RETRY_DELAY", 0.0)
    servers = []

    def start(files=None, mode="ok"):
        server = _Server({RELPATH: GOOD} if files is None else files, mode)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/zoo/"


def _files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files)


def _final(cache):
    return os.path.join(cache, *RELPATH.split("/"))


def _read(path):
    with open(path, "rb") as f:
        return f.read()


# --- good path and cache ----------------------------------------------------------------

def test_download_verify_then_served_from_cache(serve, tmp_path):
    server = serve()
    cache = str(tmp_path / "cache")
    path = fetch(RELPATH, GOOD_SHA, SIZE, entry_url=server.url, cache_root=cache, progress=False)
    assert path == _final(cache)
    assert _read(path) == GOOD and verify(path, GOOD_SHA, SIZE)
    assert len(server.requests) == 1 and server.requests[0]["range"] is None
    assert fetch(RELPATH, GOOD_SHA.upper(), SIZE, entry_url=server.url, cache_root=cache,
                 progress=False) == path
    assert len(server.requests) == 1  # second call never contacted the server
    assert _files_under(cache) == sorted([RELPATH, RELPATH + ".lock"])


def test_progress_bar_on_stderr(serve, tmp_path, capsys):
    server = serve()
    fetch(RELPATH, GOOD_SHA, SIZE, entry_url=server.url, cache_root=str(tmp_path), progress=True)
    err = capsys.readouterr().err
    assert "100.0%" in err and "0.2 / 0.2 MB" in err and RELPATH in err


def test_corrupted_cache_file_is_fetched_again(serve, tmp_path):
    server = serve()
    final = _final(str(tmp_path))
    os.makedirs(os.path.dirname(final))
    for garbage in (b"not the weights", _content(seed=1)):  # wrong size, then same size
        with open(final, "wb") as f:
            f.write(garbage)
        assert fetch(RELPATH, GOOD_SHA, SIZE, entry_url=server.url, cache_root=str(tmp_path),
                     progress=False) == final
        assert _read(final) == GOOD
    assert len(server.requests) == 2


# --- wrong content ----------------------------------------------------------------------

def test_wrong_hash_keeps_nothing(serve, tmp_path):
    server = serve({RELPATH: _content(seed=1)})  # same size, other bytes
    cache = str(tmp_path)
    with pytest.raises(ZooDownloadError, match="sha256 mismatch") as info, \
            pytest.warns(ZooMirrorWarning, match="no source left"):
        fetch(RELPATH, GOOD_SHA, SIZE, entry_url=server.url, cache_root=cache, progress=False)
    message = str(info.value)
    assert "\n" not in message and RELPATH in message and server.url in message
    assert GOOD_SHA in message and "nothing was kept in the cache" in message
    assert _files_under(cache) == [RELPATH + ".lock"]  # no final file, no .part


def test_wrong_size_announced_is_refused_before_the_body(serve, tmp_path):
    server = serve({RELPATH: _content(seed=1, size=SIZE + 10)})
    with pytest.raises(ZooDownloadError, match=f"size mismatch: expected {SIZE} bytes"), \
            pytest.warns(ZooMirrorWarning, match=f"published URL {server.url}"):
        fetch(RELPATH, GOOD_SHA, SIZE, entry_url=server.url, cache_root=str(tmp_path),
              progress=False)
    assert _files_under(str(tmp_path)) == [RELPATH + ".lock"]


# --- interrupted transfers and resume ---------------------------------------------------

@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_cut_transfer_is_retried_with_range(serve, tmp_path, reset):
    server = serve(mode="cut-once")
    server.reset = reset
    path = fetch(RELPATH, GOOD_SHA, SIZE, entry_url=server.url, cache_root=str(tmp_path),
                 progress=False)
    assert _read(path) == GOOD
    assert len(server.requests) == 2
    if not reset:  # the first half arrived: the second request resumes after it
        assert server.requests[1]["range"] == f"bytes={SIZE // 2}-"
    assert _files_under(str(tmp_path)) == sorted([RELPATH, RELPATH + ".lock"])


def test_cut_transfer_without_range_support_restarts(serve, tmp_path):
    server = serve(mode="cut-once")
    server.ranges = False  # answers 200 and the whole file to a Range request
    path = fetch(RELPATH, GOOD_SHA, SIZE, entry_url=server.url, cache_root=str(tmp_path),
                 progress=False)
    assert _read(path) == GOOD
    assert server.requests[1]["range"] == f"bytes={SIZE // 2}-"


def test_always_cut_fails_cleanly_then_resumes_on_the_next_call(serve, tmp_path):
    server = serve(mode="cut-always")
    cache = str(tmp_path)
    with pytest.raises(ZooDownloadError, match="gave up after 3 retries") as info:
        fetch(RELPATH, GOOD_SHA, SIZE, entry_url=server.url, cache_root=cache, progress=False)
    assert "\n" not in str(info.value)
    assert len(server.requests) == 4  # one try and three retries, each resuming
    assert all(r["range"] for r in server.requests[1:])
    assert not os.path.exists(_final(cache))
    part = _final(cache) + ".part"
    have = os.path.getsize(part)  # kept: good bytes, resumable
    assert 0 < have < SIZE and _read(part) == GOOD[:have]

    server.mode = "ok"
    path = fetch(RELPATH, GOOD_SHA, SIZE, entry_url=server.url, cache_root=cache, progress=False)
    assert _read(path) == GOOD
    assert server.requests[-1]["range"] == f"bytes={have}-"
    assert _files_under(cache) == sorted([RELPATH, RELPATH + ".lock"])


def test_wrong_partial_file_is_discarded_and_fetched_from_zero(serve, tmp_path):
    server = serve()
    part = _final(str(tmp_path)) + ".part"
    os.makedirs(os.path.dirname(part))
    with open(part, "wb") as f:
        f.write(_content(seed=2, size=1000))  # a .part holding other bytes
    path = fetch(RELPATH, GOOD_SHA, SIZE, entry_url=server.url, cache_root=str(tmp_path),
                 progress=False)
    assert _read(path) == GOOD
    assert [r["range"] for r in server.requests] == ["bytes=1000-", None]


# --- failing sources and fall-through ---------------------------------------------------

def test_404_is_named(serve, tmp_path):
    server = serve(mode="404")
    with pytest.raises(ZooDownloadError, match="HTTP 404") as info:
        fetch(RELPATH, GOOD_SHA, SIZE, entry_url=server.url, cache_root=str(tmp_path),
              progress=False)
    assert RELPATH in str(info.value) and server.url in str(info.value)
    assert "KERASGAN_ZOO_URL" in str(info.value)  # what to do


def test_404_mirror_falls_through_to_checkout_folder(serve, tmp_path, monkeypatch):
    server = serve(mode="404")
    checkout = tmp_path / "checkout" / "zoo"
    (checkout / "dcgan-test").mkdir(parents=True)
    (checkout / RELPATH).write_bytes(GOOD)
    monkeypatch.setenv("KERASGAN_ZOO_URL", server.url)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZooMirrorWarning)  # a 404 is no lie: no warning
        path = fetch(RELPATH, GOOD_SHA, SIZE, checkout_dir=str(checkout),
                     cache_root=str(tmp_path / "cache"), progress=False)
    assert _read(path) == GOOD and len(server.requests) == 1


# --- mirrors that lie -------------------------------------------------------------------

def _mirror_warnings(record):
    return [str(w.message) for w in record if issubclass(w.category, ZooMirrorWarning)]


@pytest.mark.parametrize("wrong", [_content(seed=4), _content(seed=4, size=SIZE - 1)],
                         ids=["other-bytes", "other-size"])
def test_lying_folder_mirror_warns_even_when_a_later_source_is_good(serve, tmp_path,
                                                                     monkeypatch, wrong):
    good = serve()
    mirror = tmp_path / "mirror"
    (mirror / "dcgan-test").mkdir(parents=True)
    (mirror / RELPATH).write_bytes(wrong)
    monkeypatch.setenv("KERASGAN_ZOO_URL", str(mirror))
    with pytest.warns(ZooMirrorWarning) as record:
        path = fetch(RELPATH, GOOD_SHA, SIZE, entry_url=good.url,
                     cache_root=str(tmp_path / "cache"), progress=False)
    assert _read(path) == GOOD and len(good.requests) == 1  # the good file, from the next
    [message] = _mirror_warnings(record)
    assert "\n" not in message and RELPATH in message
    assert f"KERASGAN_ZOO_URL {mirror}" in message
    assert "mismatch" in message and "nothing from it was kept" in message
    assert "trying the next source" in message


def test_lying_http_mirror_warns_even_when_a_later_source_is_good(serve, tmp_path,
                                                                   monkeypatch):
    liar = serve({RELPATH: _content(seed=5)})
    checkout = tmp_path / "checkout" / "zoo"
    (checkout / "dcgan-test").mkdir(parents=True)
    (checkout / RELPATH).write_bytes(GOOD)
    monkeypatch.setenv("KERASGAN_ZOO_URL", liar.url)
    with pytest.warns(ZooMirrorWarning) as record:
        path = fetch(RELPATH, GOOD_SHA, SIZE, checkout_dir=str(checkout),
                     cache_root=str(tmp_path / "cache"), progress=False)
    assert _read(path) == GOOD
    [message] = _mirror_warnings(record)
    assert f"KERASGAN_ZOO_URL {liar.url}" in message and RELPATH in message
    assert "sha256 mismatch" in message and "nothing from it was kept" in message
    assert _files_under(str(tmp_path / "cache")) == sorted([RELPATH, RELPATH + ".lock"])


def test_every_failing_source_is_listed(serve, tmp_path, monkeypatch):
    forbidden = serve(mode="403")
    wrong = tmp_path / "wrong"
    (wrong / "dcgan-test").mkdir(parents=True)
    (wrong / RELPATH).write_bytes(_content(seed=3))
    monkeypatch.setenv("KERASGAN_ZOO_URL", forbidden.url)
    refused = _closed_port_url()
    with pytest.raises(ZooDownloadError) as info, \
            pytest.warns(ZooMirrorWarning, match=f"checkout {wrong}"):
        fetch(RELPATH, GOOD_SHA, SIZE, entry_url=refused, checkout_dir=str(wrong),
              cache_root=str(tmp_path / "cache"), progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert f"KERASGAN_ZOO_URL {forbidden.url}: HTTP 403" in message
    assert f"checkout {wrong}: sha256 mismatch" in message
    assert f"published URL {refused}: cannot connect" in message
    assert _files_under(str(tmp_path / "cache")) == [RELPATH + ".lock"]


def test_refused_and_stalled_sources_fall_through(serve, tmp_path, monkeypatch):
    stalled = serve(mode="stall")
    good = serve()
    monkeypatch.setattr(download, "TIMEOUT", 0.3)
    monkeypatch.setenv("KERASGAN_ZOO_URL", stalled.url)
    path = fetch(RELPATH, GOOD_SHA, SIZE, entry_url=good.url, cache_root=str(tmp_path),
                 progress=False)
    assert _read(path) == GOOD
    monkeypatch.setenv("KERASGAN_ZOO_URL", _closed_port_url())
    os.remove(path)
    assert _read(fetch(RELPATH, GOOD_SHA, SIZE, entry_url=good.url, cache_root=str(tmp_path),
                       progress=False)) == GOOD
    with pytest.raises(ZooDownloadError, match="timed out"):
        fetch(RELPATH, GOOD_SHA, SIZE, entry_url=stalled.url, cache_root=str(tmp_path / "b"),
              progress=False)


# --- mirrors --------------------------------------------------------------------------

@pytest.mark.parametrize("as_url", [False, True], ids=["folder", "file-url"])
def test_local_mirror(serve, tmp_path, monkeypatch, as_url):
    published = serve()
    mirror = tmp_path / "mirror"
    (mirror / "dcgan-test").mkdir(parents=True)
    (mirror / RELPATH).write_bytes(GOOD)
    monkeypatch.setenv("KERASGAN_ZOO_URL", mirror.as_uri() if as_url else str(mirror))
    path = fetch(RELPATH, GOOD_SHA, SIZE, entry_url=published.url,
                 cache_root=str(tmp_path / "cache"), progress=False)
    assert _read(path) == GOOD and published.requests == []
    assert path != str(mirror / RELPATH)  # a copy in the cache


def test_sources_order_and_schemes(tmp_path, monkeypatch):
    monkeypatch.delenv("KERASGAN_ZOO_URL", raising=False)
    assert sources(None, None) == []
    assert sources("https://example.org/v1", str(tmp_path / "absent")) == [
        download.Source("http", "https://example.org/v1/", "published URL")]
    monkeypatch.setenv("KERASGAN_ZOO_URL", "http://127.0.0.1:1/m/")
    assert [s.origin for s in sources("https://example.org/v1/", str(tmp_path))] == [
        "KERASGAN_ZOO_URL", "checkout", "published URL"]
    installed = tmp_path / "site" / "kerasgan_zoo_files"
    monkeypatch.setattr(companion, "folder", lambda c: str(installed))
    assert [s.origin for s in sources("https://example.org/v1/", str(tmp_path))] == [
        "KERASGAN_ZOO_URL", "checkout", "installed kerasgan-zoo-files", "published URL"]
    monkeypatch.setattr(companion, "folder", lambda c: None)
    monkeypatch.setenv("KERASGAN_ZOO_URL", tmp_path.as_uri())
    assert sources(None, None) == [download.Source("folder", str(tmp_path), "KERASGAN_ZOO_URL")]
    for bad in ("ftp://mirror/zoo/", "s3://bucket/zoo", "file://otherhost/zoo"):
        monkeypatch.setenv("KERASGAN_ZOO_URL", bad)
        with pytest.raises(ZooDownloadError, match="KERASGAN_ZOO_URL"):
            sources(None, None)
        with pytest.raises(ZooDownloadError):  # fetch refuses it too, before any work
            fetch(RELPATH, GOOD_SHA, SIZE, cache_root=str(tmp_path / "c"), progress=False)


# --- refused inputs ---------------------------------------------------------------------

@pytest.mark.parametrize("relpath", [
    "../x.weights.h5", "/etc/passwd", "a/b.pkl", "x.npy", "a/../b.keras", "a\\b.weights.h5",
    "a//b.keras", ".keras", "./x.keras", "x.weights.h5.pkl", "", "a/b c.keras", "x.h5",
])
def test_bad_relpaths_are_refused(serve, tmp_path, relpath):
    server = serve({relpath: GOOD})
    with pytest.raises(ZooDownloadError, match="refused|non-empty"):
        fetch(relpath, GOOD_SHA, SIZE, entry_url=server.url, cache_root=str(tmp_path),
              progress=False)
    assert server.requests == [] and _files_under(str(tmp_path)) == []


def test_bad_hash_or_size_is_refused(tmp_path):
    with pytest.raises(ZooDownloadError, match="64 hex"):
        fetch(RELPATH, "abc", SIZE, cache_root=str(tmp_path), progress=False)
    with pytest.raises(ZooDownloadError, match="byte count"):
        fetch(RELPATH, GOOD_SHA, -1, cache_root=str(tmp_path), progress=False)


# --- concurrency ------------------------------------------------------------------------

_CHILD = r"""
import os, sys, types
# Import kerasgan.zoo.download without kerasgan/__init__ (and so without TensorFlow).
for name, sub in (("kerasgan", ("kerasgan",)), ("kerasgan.zoo", ("kerasgan", "zoo"))):
    module = types.ModuleType(name)
    module.__path__ = [os.path.join(sys.argv[1], *sub)]
    sys.modules[name] = module
from kerasgan.zoo.download import fetch
relpath, sha, size, url, cache = sys.argv[2:]
print(fetch(relpath, sha, int(size), entry_url=url, cache_root=cache, progress=False))
"""


def test_two_processes_fetching_the_same_file(serve, tmp_path):
    server = serve(mode="slow")  # about 1 s per transfer, so the two overlap
    cache = str(tmp_path / "cache")
    env = {k: v for k, v in os.environ.items() if k != download.ENV_VAR}
    env["no_proxy"] = "127.0.0.1,localhost"
    args = [sys.executable, "-c", _CHILD, REPO, RELPATH, GOOD_SHA, str(SIZE), server.url, cache]
    children = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
    results = [child.communicate(timeout=30) for child in children]
    for child, (out, err) in zip(children, results):
        assert child.returncode == 0, err
        assert out.strip() == _final(cache)
    assert _read(_final(cache)) == GOOD
    assert len(server.requests) == 1  # the second found the verified file under the lock
    assert _files_under(cache) == sorted([RELPATH, RELPATH + ".lock"])
