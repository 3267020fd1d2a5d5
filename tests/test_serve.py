"""export/serve.py, the HTTP service, as a real process on 127.0.0.1 in a Python
that cannot import TensorFlow: good requests, every kind of bad one (JSON 4xx,
no traceback in the server's log), limits, health, metrics, dynamic batching."""

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from _requires import require
from test_deploy_kit import KIT, NO_TF, assert_same_grid, exported, kit_python, png_array  # noqa: F401

for _module in ("starlette", "uvicorn", "httptools", "prometheus_client"):
    require(_module, "the service's tests need the serve extra (pip install -e .[serve])")

SERVE = os.path.join(KIT, "serve.py")


class ServeProcess:
    """``serve.py MODEL --port 0 ARGS`` in a no-TensorFlow Python; its stderr goes
    to a file the tests read (the request log, and what must not be there)."""

    def __init__(self, model, *args, log_dir):
        self.log = log_dir / f"serve-{os.getpid()}-{time.monotonic_ns()}.log"
        self.err = open(self.log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, NO_TF, SERVE, str(model), "--port", "0", *map(str, args)],
            stdout=subprocess.PIPE, stderr=self.err, text=True,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        line = self.proc.stdout.readline()
        if "serving" not in line:
            self.proc.kill()
            raise AssertionError(f"server did not start: {line}{self.log.read_text()}")
        self.url = line.strip().split(" on ")[-1]
        assert self.url.startswith("http://127.0.0.1:")
        self.port = int(self.url.rsplit(":", 1)[1])

    def request(self, path, method="GET", body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.headers), r.read()
        finally:
            conn.close()

    def get(self, path):
        return self.request(path)

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def raw(self, data, wait=None):
        """Sends ``data`` on a fresh connection; returns all the server answers
        until it closes (``wait``: seconds to give it)."""
        with self.connect() as s:
            s.sendall(data)
            if wait is not None:
                s.settimeout(wait)
            return _read_all(s)

    def stderr(self):
        self.err.flush()
        return self.log.read_text()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.err.close()


def _read_all(sock):
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(raw):
    """(status, headers, body) of one raw HTTP/1.1 answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def _metric(text, name):
    """The sum of a metric's samples whose line starts with ``name``."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name))


@pytest.fixture(scope="module")
def servers(exported, tmp_path_factory):
    logs = tmp_path_factory.mktemp("serve_logs")
    started = {}
    try:
        # logs its requests; a 1 s read timeout for the slow-client checks; a 10 ms
        # batching wait so that concurrent requests merge even on this tiny model
        started["dcgan"] = ServeProcess(exported["dcgan"], "--max-n", 64, "--read-timeout", 1,
                                        "--batch-wait-ms", 10, log_dir=logs)
        started["cgan"] = ServeProcess(exported["cgan"], "--quiet", log_dir=logs)
        started["tight"] = ServeProcess(exported["dcgan"], "--max-in-flight", 1,
                                        "--read-timeout", 2, "--quiet", log_dir=logs)
        yield started
    finally:
        for server in started.values():
            server.stop()


def assert_json_error(status, headers, body, expected_status, message=""):
    headers = {k.lower(): v for k, v in headers.items()}
    assert status == expected_status, (status, body)
    assert headers["content-type"] == "application/json", headers
    assert re.search(message, json.loads(body)["error"]), body


def test_good_requests(servers, exported):
    dcgan, cgan = servers["dcgan"], servers["cgan"]
    status, headers, body = dcgan.get("/generate?n=9&seed=3")
    assert status == 200 and headers["content-type"] == "image/png" and headers["x-seed"] == "3"
    assert_same_grid(body, exported["dcgan_images"](9, 3))
    status, headers, body = dcgan.get("/generate?n=4&seed=3&nrow=4&scale=2")
    assert status == 200 and png_array(body).shape == (2 * (8 + 4), 2 * (4 * 10 + 2))
    status, headers, body = dcgan.get("/generate")  # defaults: 16 images, a random seed
    assert status == 200 and int(headers["x-seed"]) >= 0
    assert png_array(body).shape == (4 * 10 + 2, 4 * 10 + 2)
    status, _, body = dcgan.get("/metadata")
    assert status == 200 and json.loads(body)["family"] == "dcgan"
    assert json.loads(body)["dataset"] == "mnist-10k"
    for path in ("/health", "/healthz", "/"):
        status, _, body = dcgan.get(path)
        assert status == 200 and json.loads(body) == {"status": "ok", "family": "dcgan"}
    status, _, body = dcgan.get("/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready"

    status, headers, body = cgan.get("/generate?n=6&seed=5&label=7&nrow=6")
    assert status == 200
    assert_same_grid(body, exported["cgan_images"](6, 5, 7), nrow=6)
    # label=random: a class per image, drawn from the seed after z
    status, headers, random_labels = cgan.get("/generate?n=6&seed=5&label=random&nrow=6")
    assert status == 200 and headers["x-seed"] == "5"
    assert not np.array_equal(png_array(random_labels), png_array(body))
    # the request log: one line a request, no query beyond 200 characters
    assert re.search(r'"GET /generate\?n=9&seed=3" 200 [\d.]+ms', dcgan.stderr())


@pytest.mark.parametrize("server,query,message", [
    ("dcgan", "n=0", r"n must be in \[1, 64\]"),
    ("dcgan", "n=65", r"n must be in \[1, 64\]"),
    ("dcgan", "n=abc", "n must be an integer"),
    ("dcgan", "n=", "n must be an integer"),
    ("dcgan", "n=2.5", "n must be an integer"),
    ("dcgan", "seed=-1", "seed must be in"),
    ("dcgan", "seed=1e5", "seed must be an integer"),
    ("dcgan", "seed=" + "9" * 5000, "seed must be an integer"),
    ("dcgan", "label=3", "unconditional: it takes no label"),
    ("dcgan", "n=2&n=3", "given more than once"),
    ("dcgan", "colour=red", "unknown parameter colour"),
    ("dcgan", "scale=100", r"scale must be in \[1, 8\]"),
    ("dcgan", "n=4&nrow=5", r"nrow must be in \[1, 4\]"),
    ("dcgan", "&".join(f"k{i}=1" for i in range(20)), "bad query string"),
    ("cgan", "label=10", r"label must be in \[0, 9\]"),
    ("cgan", "label=-1", r"label must be in \[0, 9\]"),
    ("cgan", "label=seven", "label must be an integer"),
    ("cgan", "n=4", r"class-conditional: pass label=C with C in \[0, 9\], or label=random"),
])
def test_bad_parameters_are_400(servers, server, query, message):
    assert_json_error(*servers[server].get("/generate?" + query), 400, message)


def test_bad_requests_get_json_4xx_and_no_traceback(servers):
    server = servers["dcgan"]
    assert_json_error(*server.get("/admin"), 404, "no such endpoint /admin")
    for method in ("PUT", "DELETE", "OPTIONS", "POST", "PATCH"):
        status, headers, body = server.request("/generate", method=method)
        assert_json_error(status, headers, body, 405, f"method {method} not allowed: use GET")
        assert headers["allow"] == "GET"
    # HEAD: the same answer without its body
    status, headers, body = _parse(server.raw(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n"
                                              b"Connection: close\r\n\r\n"))
    assert status == 405 and headers["allow"] == "GET" and body == b""
    assert headers["content-type"] == "application/json"
    # a 70k-character query: 414 before the request line is even complete
    assert_json_error(*server.get("/generate?seed=" + "1" * 70000), 414, "too long")
    # a large body: 413 from its Content-Length; a chunked one: counted as it comes
    assert_json_error(*server.request("/generate", "GET", body=b"x" * 100000), 413,
                      "request body too large")
    chunked = (b"GET /generate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + (b"8000\r\n" + b"x" * 0x8000 + b"\r\n") * 3 + b"0\r\n\r\n")
    status, headers, body = _parse(server.raw(chunked))
    assert status == 413 and "too large" in json.loads(body)["error"]
    # malformed HTTP: JSON 400, not uvicorn's text
    for junk in (b"BLAH\r\n\r\n", b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", b"\x16\x03\x01\x00"):
        status, headers, body = _parse(server.raw(junk))
        assert status == 400 and headers["content-type"] == "application/json"
        assert "invalid HTTP request" in json.loads(body)["error"]
    # headers over the limit: 431
    status, _, body = _parse(server.raw(b"GET / HTTP/1.1\r\n" + b"X-A: " + b"a" * 40000
                                        + b"\r\n\r\n"))
    assert status == 431 and "headers too large" in json.loads(body)["error"]
    # five clients that send part of the headers and hang up
    for _ in range(5):
        with server.connect() as s:
            s.sendall(b"GET /generate?n=2 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Ag")
    # one that hangs up while its answer is on its way
    with server.connect() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.sendall(b"GET /generate?n=64&scale=8 HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(100)
    # a slowloris: headers a byte at a time, too slowly (read timeout 1 s): 408
    start = time.monotonic()
    with server.connect() as s:
        for byte in b"GET /generate HTTP/1.1\r\nHost: x\r\n":
            try:
                s.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)
            if time.monotonic() - start > 3:
                break
        status, headers, body = _parse(_read_all(s))
    assert status == 408 and "not received within 1 s" in json.loads(body)["error"]
    assert time.monotonic() - start < 3
    assert server.get("/healthz")[0] == 200  # still serving
    time.sleep(0.2)
    log = server.stderr()
    assert "Traceback" not in log and " 500 " not in log and "Exception" not in log, log
    metrics = server.get("/metrics")[2].decode()
    assert _metric(metrics, 'kerasgan_refused_connections_total{reason="invalid"}') == 3
    assert _metric(metrics, 'kerasgan_refused_connections_total{reason="read_timeout"}') >= 1


def test_too_many_in_flight_is_503_and_a_slow_body_is_408(servers):
    server = servers["tight"]  # one request in flight at most, 2 s to send a request
    with server.connect() as slow:
        # holds the one slot: a chunked body that never comes
        slow.sendall(b"GET /generate?n=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"\r\n5\r\nab")
        time.sleep(0.3)
        status, headers, body = server.get("/generate?n=1&seed=0")
        assert_json_error(status, headers, body, 503, "server full")
        assert headers["retry-after"] == "1"
        status, headers, body = server.get("/readyz")
        assert status == 503 and "requests in flight" in json.loads(body)["error"]
        assert server.get("/healthz")[0] == 200  # alive, though not ready
        status, headers, body = _parse(_read_all(slow))
    assert status == 408 and "request body not received within 2 s" in json.loads(body)["error"]
    assert server.get("/generate?n=1&seed=0")[0] == 200
    assert server.get("/readyz")[0] == 200
    assert "Traceback" not in server.stderr()


def test_concurrent_requests_are_batched_and_each_gets_its_own_images(servers, exported):
    server = servers["dcgan"]
    before = server.get("/metrics")[2].decode()
    jobs = [(seed, 1 + seed % 4) for seed in range(48)]
    alone = {job: server.get(f"/generate?n={job[1]}&seed={job[0]}")[2] for job in jobs[:8]}
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda j: server.get(f"/generate?n={j[1]}&seed={j[0]}"), jobs))
    after = server.get("/metrics")[2].decode()
    for (seed, n), (status, headers, body) in zip(jobs, results):
        assert status == 200 and headers["x-seed"] == str(seed)
        assert_same_grid(body, exported["dcgan_images"](n, seed))
        if (seed, n) in alone:
            assert body == alone[(seed, n)]  # merged answers equal lone ones, byte for byte
    calls = (_metric(after, "kerasgan_batch_requests_count")
             - _metric(before, "kerasgan_batch_requests_count"))
    merged = (_metric(after, "kerasgan_batch_requests_sum")
              - _metric(before, "kerasgan_batch_requests_sum"))
    assert merged == len(jobs) + len(alone)
    assert calls < merged, (calls, merged)  # some ONNX Runtime calls served several requests
    assert _metric(after, 'kerasgan_requests_total{endpoint="/generate",status="200"}') >= 56


def test_metrics_page(servers):
    status, headers, body = servers["cgan"].get("/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = body.decode()
    for name in ("kerasgan_requests_total", "kerasgan_request_seconds_bucket",
                 "kerasgan_requests_in_flight", "kerasgan_batch_images_bucket",
                 "kerasgan_images_total"):
        assert name in text, name


@pytest.mark.parametrize("args,message", [
    (["--max-n", "0"], r"--max-n must be in \[1, 4096\], got 0"),
    (["--port", "70000"], r"--port must be in \[0, 65535\], got 70000"),
    (["--port", "http"], "argument --port: invalid int value"),
    (["--timeout", "0"], "--timeout must be a number of seconds > 0"),
    (["--max-in-flight", "0"], "--max-in-flight must be in"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_options_are_one_line(exported, args, message):
    result = kit_python(SERVE, exported["dcgan"], *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("serve.py: error: ")
    assert re.search(message, result.stderr), result.stderr


def test_refuses_a_corrupt_model_and_a_busy_port(tmp_path, exported):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"ONNX? no." * 100)
    result = kit_python(SERVE, bad, "--port", "0")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "not a valid ONNX model" in result.stderr and "Traceback" not in result.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        result = kit_python(SERVE, exported["dcgan"], "--port", taken.getsockname()[1])
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "serve.py: error: cannot listen on 127.0.0.1:" in result.stderr


async def _asgi(app, paths):
    """Runs ``app`` in-process (lifespan start-up, one GET a path, shutdown):
    ``[(status, headers, body)]``."""
    import asyncio

    inbox = asyncio.Queue()
    outbox = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                         inbox.get, outbox.put))
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    answers = []
    for path in paths:
        route, _, query = path.partition("?")
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": route, "raw_path": route.encode(),
                 "query_string": query.encode(), "root_path": "", "headers": [],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
        answers.append((sent[0]["status"], headers, b"".join(m.get("body", b"")
                                                             for m in sent[1:])))
    await inbox.put({"type": "lifespan.shutdown"})
    assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
    await lifespan
    return answers


def test_build_app_is_importable_as_kerasgan_kit(exported):
    """``kerasgan.kit.serve`` (the package's copy of the kit) builds the app."""
    import asyncio

    from kerasgan.kit import serve
    from kerasgan.kit.onnx_generator import OnnxGenerator

    app = serve.build_app(OnnxGenerator(str(exported["dcgan"])), max_n=8, quiet=True)
    (bad, good) = asyncio.run(_asgi(app, ["/generate?n=9", "/generate?n=3&seed=1"]))
    assert bad[0] == 400 and "n must be in [1, 8]" in json.loads(bad[2])["error"]
    assert good[0] == 200 and good[1]["x-seed"] == "1"
    assert_same_grid(good[2], exported["dcgan_images"](3, 1))
    assert callable(serve.main)


def test_the_servers_png_has_the_kits_pixels():
    """serve.py writes its PNGs itself (zlib, no filters): the pixels are those
    of the kit's ``grid_png``, for grey, RGB and RGBA grids, any nrow and scale."""
    import io

    from PIL import Image

    from kerasgan.kit import serve
    from kerasgan.kit.onnx_generator import grid_png

    rng = np.random.default_rng(0)
    for shape in [(1, 8, 8, 1), (7, 8, 8, 3), (3, 5, 6, 4)]:
        images = rng.uniform(-1.2, 1.2, shape).astype("float32")
        for nrow, scale in [(None, 1), (2, 3), (shape[0], 8)]:
            ours = Image.open(io.BytesIO(serve.png_grid(images, nrow=nrow, scale=scale)))
            kit = Image.open(io.BytesIO(grid_png(images, nrow=nrow, scale=scale)))
            assert ours.mode == kit.mode
            np.testing.assert_array_equal(np.asarray(ours), np.asarray(kit))


def test_workers_share_the_port_and_stop_with_the_parent(exported, tmp_path):
    """--workers 2: two server processes behind one port answer the seed's images;
    SIGTERM to the parent stops both, nothing left running."""
    server = ServeProcess(exported["dcgan"], "--workers", 2, "--quiet", log_dir=tmp_path)
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda s: server.get(f"/generate?n=3&seed={s}"), range(16)))
        for seed, (status, _, body) in enumerate(answers):
            assert status == 200
            assert_same_grid(body, exported["dcgan_images"](3, seed))
        children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(p) ==
                    server.proc.pid]
        assert len(children) == 2, children
    finally:
        server.stop()
    assert server.proc.returncode == 0
    time.sleep(0.5)
    assert not [c for c in children if os.path.exists(f"/proc/{c}") and _state(c) != "Z"]
    assert "Traceback" not in server.log.read_text()


def _status_field(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return line.split()[1]
    except OSError:
        return None
    return None


def _parent(pid):
    ppid = _status_field(pid, "PPid")
    return int(ppid) if ppid else None


def _state(pid):
    return _status_field(pid, "State")
