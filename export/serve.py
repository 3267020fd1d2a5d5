#!/usr/bin/env python3
"""Serve a kerasgan ONNX generator over HTTP: an ASGI app (Starlette) on uvicorn.

::

    pip install -r export/requirements.txt -r export/requirements-serve.txt
    python export/serve.py dcgan.onnx --host 0.0.0.0 --port 8080
    curl -o grid.png "http://127.0.0.1:8080/generate?n=16&seed=3"
    curl -o sevens.png "http://127.0.0.1:8080/generate?n=16&seed=3&label=7"   # conditional
    curl "http://127.0.0.1:8080/generate?n=5&seed=0&temperature=0.8"            # a text model

Endpoints (all ``GET``; any other method is a ``405`` with ``Allow: GET``):

- ``/generate``: a PNG grid. Parameters: ``n`` (1..--max-n, default 16),
  ``seed`` (integer >= 0; random when absent, echoed in the ``X-Seed`` header),
  ``label`` (required by conditional models: a class in [0, num_classes) or
  ``random``), ``nrow`` (images per row), ``scale`` (1..8, nearest upscaling).
  A text model answers JSON ``{"texts": [...], "ids": [[...]], "seed": S,
  "temperature": T}``; its parameters are ``n``, ``seed`` and ``temperature``
  (a number > 0, default 1.0).
- ``/metadata``: the model's metadata (JSON).
- ``/healthz`` (and ``/health``, ``/``): ``{"status": "ok", ...}`` while the
  process serves; ``/readyz``: ``200`` when it takes requests, ``503`` while
  starting, stopping or full.
- ``/metrics``: Prometheus text format (when prometheus-client is installed).

Every error is JSON ``{"error": ...}`` with a 4xx status for anything a client
sends (400 bad parameter or malformed HTTP, 404, 405, 408 too slow, 413 body too
large, 414 query too long, 431 headers too large), and 503 with ``Retry-After``
when the server is full or a generation overran ``--timeout``.

Concurrent image requests are merged into one ONNX Runtime call (dynamic
batching, up to ``--max-batch`` images); each request still gets exactly the
images its own seed gives, the images kerasgan's ``generate(n, seed)`` gives.
Port 0 picks a free port; the first line printed says where it serves.
"""

import argparse
import asyncio
import collections
import contextlib
import json
import logging
import os
import secrets
import socket
import struct
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from onnx_generator import ModelError, OnnxGenerator, check_temperature, make_grid  # noqa: E402

try:
    import httptools
    import uvicorn
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError as e:  # reported by main(); parse_generate works without them
    _WEB_ERROR = e
else:
    _WEB_ERROR = None

try:
    import prometheus_client
except ImportError:
    prometheus_client = None

PROG = "serve.py"
MAX_SEED = 2**63 - 1
MAX_SCALE = 8
ENDPOINTS = ("/generate", "/metadata", "/healthz", "/readyz", "/metrics", "/health", "/")
log = logging.getLogger("kerasgan.serve")


class BadRequest(ValueError):
    pass


class Limits:
    """What one request and the whole server may take (the defaults of ``main``)."""

    def __init__(self, max_n=256, max_query=8192, max_headers=32768, max_body=65536,
                 read_timeout=10.0, timeout=30.0, max_in_flight=128, retry_after=1):
        self.max_n = max_n                  # images (sentences) a request may ask
        self.max_query = max_query          # bytes of query string (414 above)
        self.max_headers = max_headers      # bytes of header names and values (431 above)
        self.max_body = max_body            # bytes of request body (413 above)
        self.read_timeout = read_timeout    # seconds to receive the headers, and the body (408)
        self.timeout = timeout              # seconds to generate (503 above)
        self.max_in_flight = max_in_flight  # /generate and /metadata requests at once (503)
        self.retry_after = retry_after      # the Retry-After of a 503, seconds


def _int_param(query, name, low, high, default):
    values = query.get(name)
    if values is None:
        return default
    text = values[0].strip()
    try:
        value = int(text, 10)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {values[0]!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be in [{low}, {high}], got {value}")
    return value


def parse_generate(query_string, gen, max_n):
    """Validated ``/generate`` parameters; raises BadRequest naming the problem."""
    allowed = {"n", "seed", "temperature"} if gen.is_text else {"n", "seed", "label", "nrow",
                                                                 "scale"}
    try:
        query = parse_qs(query_string, keep_blank_values=True, strict_parsing=False,
                         max_num_fields=16)
    except ValueError as e:
        raise BadRequest(f"bad query string: {e}") from None
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise BadRequest(f"unknown parameter {', '.join(unknown)}: use {', '.join(sorted(allowed))}")
    repeated = sorted(k for k, v in query.items() if len(v) > 1)
    if repeated:
        raise BadRequest(f"parameter {', '.join(repeated)} given more than once")
    n = _int_param(query, "n", 1, max_n, 16)
    seed = _int_param(query, "seed", 0, MAX_SEED, None)
    if seed is None:
        seed = secrets.randbelow(MAX_SEED)
    if gen.is_text:
        temperature = 1.0
        if "temperature" in query:
            try:
                temperature = check_temperature(query["temperature"][0].strip())
            except ValueError as e:
                raise BadRequest(str(e)) from None
        return {"n": n, "seed": seed, "temperature": temperature}
    label = None
    if "label" in query:
        if gen.num_classes is None:
            raise BadRequest(f"this {gen.family} model is unconditional: it takes no label")
        label = ("random" if query["label"] == ["random"]
                 else _int_param(query, "label", 0, gen.num_classes - 1, None))
    elif gen.num_classes is not None:
        raise BadRequest(f"this {gen.family} model is class-conditional: pass label=C with C "
                         f"in [0, {gen.num_classes - 1}], or label=random")
    nrow = _int_param(query, "nrow", 1, n, None)
    scale = _int_param(query, "scale", 1, MAX_SCALE, 1)
    return {"n": n, "seed": seed, "label": label, "nrow": nrow, "scale": scale}


def _png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_grid(images, nrow=None, scale=1):
    """PNG bytes of a grid of ``images``: the pixels of the kit's ``grid_png``
    (``make_grid``, nearest upscaling by ``scale``), written here with zlib
    directly (no row filters): for the small grids a server sends, Pillow's
    encoder set-up costs several times the compression."""
    import numpy as np

    grid = make_grid(images, nrow=nrow)
    if scale > 1:
        grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    h, w, c = grid.shape
    rows = np.zeros((h, 1 + w * c), np.uint8)  # each row: filter type 0, then its bytes
    rows[:, 1:] = grid.reshape(h, w * c)
    header = struct.pack(">IIBBBBB", w, h, 8, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _png_chunk(b"IEND", b""))


def _error_body(message):
    return (json.dumps({"error": message}) + "\n").encode()


def _error(status, message, headers=None):
    return JSONResponse({"error": message}, status_code=status, headers=headers)


# ----------------------------------------------------------------------- metrics
class Metrics:
    """Prometheus counters in a registry of their own; every method is a no-op
    when prometheus-client is absent or metrics are off."""

    def __init__(self, enabled=True):
        self.enabled = enabled and prometheus_client is not None
        if not self.enabled:
            return
        p = prometheus_client
        self.registry = p.CollectorRegistry()
        self.requests = p.Counter("kerasgan_requests", "HTTP requests answered",
                                  ["endpoint", "status"], registry=self.registry)
        self.seconds = p.Histogram(
            "kerasgan_request_seconds", "time from the request's headers to its answer",
            ["endpoint"], registry=self.registry,
            buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
        self.in_flight = p.Gauge("kerasgan_requests_in_flight",
                                 "/generate and /metadata requests being answered",
                                 registry=self.registry)
        self.batch = p.Histogram("kerasgan_batch_images", "images per ONNX Runtime call",
                                 registry=self.registry,
                                 buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.batch_requests = p.Histogram("kerasgan_batch_requests",
                                          "requests merged into one ONNX Runtime call",
                                          registry=self.registry,
                                          buckets=(1, 2, 4, 8, 16, 32, 64, 128))
        self.images = p.Counter("kerasgan_images", "images generated", registry=self.registry)
        self.refused = p.Counter("kerasgan_refused_connections",
                                 "connections closed before a request reached the app",
                                 ["reason"], registry=self.registry)

    def request(self, endpoint, status, seconds):
        if self.enabled:
            self.requests.labels(endpoint, str(status)).inc()
            self.seconds.labels(endpoint).observe(seconds)

    def batched(self, images, requests):
        if self.enabled:
            self.batch.observe(images)
            self.batch_requests.observe(requests)
            self.images.inc(images)

    def refuse(self, reason):
        if self.enabled:
            self.refused.labels(reason).inc()

    def text(self):
        return prometheus_client.generate_latest(self.registry)


# ---------------------------------------------------------------------- batching
class Batcher:
    """Runs image requests through ONNX Runtime, ``runners`` calls at a time
    (one thread each).

    Each request's inputs are drawn from its own seed (``sample_inputs``, as
    ``OnnxGenerator.generate`` draws them); the runner takes the requests that
    are waiting (up to ``max_batch`` images in all, after waiting up to
    ``max_wait`` seconds for more), concatenates their inputs along the batch
    axis, runs the graph once and hands each request its rows, encoded (the
    PNG) on the same thread, off the event loop. The generator's
    rows do not depend on each other, so a merged request gets the pixels it
    would get alone (``benchmarks/serve_load.py`` checks them). A request of
    more than ``max_batch`` images runs alone, in chunks of ``max_batch``.
    With ``enabled=False`` every request runs alone.
    """

    def __init__(self, gen, executor, metrics, max_batch=64, max_wait=0.0, enabled=True,
                 runners=1):
        self.gen, self.executor, self.metrics = gen, executor, metrics
        self.max_batch, self.max_wait, self.enabled = max_batch, max_wait, enabled
        self.runners = runners
        self.pending = collections.deque()
        self.wake = None
        self.tasks = []

    def start(self):
        self.wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._loop()) for _ in range(self.runners)]

    async def stop(self):
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def submit(self, n, seed, labels, finish=None):
        """One request: ``finish(images)`` (None: the float32 images ``(n, H, W,
        C)``), computed on the runner's thread."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((n, seed, labels, finish, future))
        self.wake.set()
        return await future

    def _take(self, taken, rows):
        """Moves waiting requests into ``taken`` while they fit in a batch."""
        while self.pending:
            n, _, _, _, future = self.pending[0]
            if future.done():  # timed out (cancelled) while waiting: drop it
                self.pending.popleft()
                continue
            if taken and (not self.enabled or rows + n > self.max_batch):
                break
            taken.append(self.pending.popleft())
            rows += n
            if not self.enabled:
                break
        return rows

    def _job(self, taken, rows):
        """On a runner thread: draw each request's inputs from its seed, run the
        graph once on all of them (in chunks of max_batch for one large
        request), and finish each request on its rows. Returns one result or
        exception a request."""
        import numpy as np

        gen = self.gen
        feeds = [gen.sample_inputs(n, seed=seed, labels=labels)
                 for n, seed, labels, _, _ in taken]
        feed = feeds[0] if len(feeds) == 1 else {
            k: np.concatenate([f[k] for f in feeds]) for k in feeds[0]}
        chunk = self.max_batch
        if rows <= chunk:
            out = gen.run(feed)
        else:
            out = np.concatenate([gen.run({k: v[s:s + chunk] for k, v in feed.items()})
                                  for s in range(0, rows, chunk)])
        results, start = [], 0
        for n, _, _, finish, _ in taken:
            images = out[start:start + n]
            start += n
            try:
                results.append(images if finish is None else finish(images))
            except Exception as e:  # noqa: BLE001 (that request's failure only)
                results.append(e)
        return results

    async def _loop(self):
        loop = asyncio.get_running_loop()
        while True:
            if not self.pending:
                self.wake.clear()
                await self.wake.wait()
                continue
            taken = []
            rows = self._take(taken, 0)
            if self.enabled and self.max_wait > 0 and rows < self.max_batch:
                await asyncio.sleep(self.max_wait)
                rows = self._take(taken, rows)
            if not taken:
                continue
            try:
                results = await loop.run_in_executor(self.executor, self._job, taken, rows)
            except Exception as e:  # noqa: BLE001 (handed to the requests, which answer 500)
                results = [e] * len(taken)
            else:
                self.metrics.batched(rows, len(taken))
            for (_, _, _, _, future), result in zip(taken, results):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)


# ----------------------------------------------------------------------- the app
class Service:
    """The state the app's handlers share."""

    def __init__(self, gen, limits, batcher, metrics, quiet):
        self.gen, self.limits, self.batcher, self.metrics = gen, limits, batcher, metrics
        self.quiet = quiet
        self.in_flight = 0
        self.ready = False


class Guard:
    """Pure ASGI middleware around the Starlette app: limits applied before any
    handler runs (query size, body size and read time, requests in flight), a
    JSON 500 for a bug instead of uvicorn's text one, request logging and metrics."""

    def __init__(self, app, service):
        self.app, self.s = app, service

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        s, limits = self.s, self.s.limits
        start = time.perf_counter()
        sent = {"status": None}

        async def send_logged(message):
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
            await send(message)

        async def answer(status, message, headers=None):
            await _error(status, message, headers)(scope, receive, send_logged)

        counted = False
        try:
            if len(scope["query_string"]) > limits.max_query:
                return await answer(414, f"query string too long: {len(scope['query_string'])} "
                                         f"bytes, at most {limits.max_query}")
            length, chunked = None, False
            for name, value in scope["headers"]:
                if name == b"content-length":
                    length = value
                elif name == b"transfer-encoding":
                    chunked = True
            if length is not None:
                try:
                    length = int(length)
                except ValueError:
                    return await answer(400, "bad Content-Length header",
                                        {"Connection": "close"})
                if length > limits.max_body:
                    return await answer(413, f"request body too large: {length} bytes, at most "
                                             f"{limits.max_body}", {"Connection": "close"})
            if scope["method"] == "GET" and scope["path"] in ("/generate", "/metadata"):
                if s.in_flight >= limits.max_in_flight:
                    return await answer(503, f"server full: {s.in_flight} requests in flight, "
                                             "try again shortly",
                                        {"Retry-After": str(limits.retry_after)})
                s.in_flight += 1
                counted = True
                if s.metrics.enabled:
                    s.metrics.in_flight.set(s.in_flight)
            if chunked and length is None:  # a body of unknown length: read it, bounded
                problem = await self._read_body(receive)
                if problem is not None:
                    return await answer(*problem, {"Connection": "close"})
            await self.app(scope, receive, send_logged)
        except Exception as e:  # noqa: BLE001 (a bug: one line in the log, JSON 500, keep serving)
            log.error("%s: error: %s %s: %s: %s", PROG, scope["method"], scope["path"],
                      type(e).__name__, e)
            if sent["status"] is None:
                await answer(500, f"internal error: {type(e).__name__}: {e}")
        finally:
            if counted:
                s.in_flight -= 1
                if s.metrics.enabled:
                    s.metrics.in_flight.set(s.in_flight)
            status = sent["status"] or 0
            elapsed = time.perf_counter() - start
            path = scope["path"]
            s.metrics.request(path if path in ENDPOINTS else "other", status, elapsed)
            if not s.quiet:
                query = scope["query_string"][:200].decode("latin-1")
                client = scope.get("client") or ("-", 0)
                log.info('%s: %s:%s "%s %s%s" %s %.1fms', PROG, client[0], client[1],
                         scope["method"], path[:200], "?" + query if query else "", status,
                         elapsed * 1e3)

    async def _read_body(self, receive):
        limits, size = self.s.limits, 0
        deadline = time.monotonic() + limits.read_timeout
        while True:
            try:
                message = await asyncio.wait_for(receive(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                return 408, f"request body not received within {limits.read_timeout:g} s"
            if message["type"] == "http.disconnect":
                return None
            size += len(message.get("body", b""))
            if size > limits.max_body:
                return 413, f"request body too large: more than {limits.max_body} bytes"
            if not message.get("more_body", False):
                return None


def build_app(gen, max_n=256, limits=None, batching=True, max_batch=64, max_wait=0.0,
              runners=2, metrics=True, quiet=False):
    """The ASGI app serving ``gen`` (an :class:`OnnxGenerator`).

    Args:
        gen: the generator.
        max_n: the largest ``n`` a request may ask (``limits.max_n`` when
            ``limits`` is given).
        limits: a :class:`Limits` (None: the defaults, with ``max_n``).
        batching: merge concurrent image requests into one ONNX Runtime call.
        max_batch: images per ONNX Runtime call.
        max_wait: seconds the batcher waits for more requests once it has one
            (0: it takes what is waiting, no added latency).
        runners: ONNX Runtime calls at once (each on a thread of its own).
        metrics: serve ``/metrics`` (needs prometheus-client).
        quiet: no request log.

    The app starts its batcher on the ASGI lifespan start-up; run it with
    lifespan on (uvicorn's default). ``app.state.service`` holds the state.
    """
    if _WEB_ERROR is not None:
        raise ImportError(f"the service needs starlette and uvicorn ({_WEB_ERROR}): "
                          "pip install -r requirements-serve.txt")
    limits = limits or Limits(max_n=max_n)
    metrics = Metrics(metrics)
    ort_pool = ThreadPoolExecutor(runners, thread_name_prefix="onnxruntime")
    batcher = Batcher(gen, ort_pool, metrics, max_batch=max_batch, max_wait=max_wait,
                      enabled=batching, runners=runners)
    s = Service(gen, limits, batcher, metrics, quiet)

    async def generate(request):
        loop = asyncio.get_running_loop()
        try:
            p = parse_generate(request.scope["query_string"].decode("latin-1"), gen,
                               limits.max_n)
        except BadRequest as e:
            return _error(400, str(e))
        headers = {"X-Seed": str(p["seed"])}
        try:
            if gen.is_text:
                work = loop.run_in_executor(ort_pool, lambda: gen.generate_text(
                    p["n"], seed=p["seed"], temperature=p["temperature"]))
                out = await asyncio.wait_for(work, limits.timeout)
                body = {"texts": out.texts, "ids": out.ids.tolist(), "seed": p["seed"],
                        "temperature": p["temperature"]}
                return Response((json.dumps(body, ensure_ascii=False) + "\n").encode(),
                                media_type="application/json; charset=utf-8", headers=headers)
            labels = None if p["label"] == "random" else p["label"]
            png = await asyncio.wait_for(batcher.submit(
                p["n"], p["seed"], labels,
                lambda images: png_grid(images, nrow=p["nrow"], scale=p["scale"])),
                limits.timeout)
        except asyncio.TimeoutError:
            return _error(503, f"generation took longer than {limits.timeout:g} s: the server "
                               "is overloaded, try again shortly",
                          {"Retry-After": str(limits.retry_after)})
        return Response(png, media_type="image/png", headers=headers)

    async def metadata(request):
        return JSONResponse(gen.metadata)

    async def healthz(request):
        return JSONResponse({"status": "ok", "family": gen.family})

    async def readyz(request):
        if not s.ready:
            return _error(503, "not ready: starting or stopping", {"Retry-After": "1"})
        if s.in_flight >= limits.max_in_flight:
            return _error(503, f"not ready: {s.in_flight} requests in flight, the most "
                               "allowed", {"Retry-After": str(limits.retry_after)})
        return JSONResponse({"status": "ready", "family": gen.family, "in_flight": s.in_flight,
                             "max_in_flight": limits.max_in_flight})

    async def metrics_page(request):
        if not metrics.enabled:
            return _error(404, "metrics are off (--no-metrics, or prometheus-client is not "
                               "installed)")
        return Response(metrics.text(), media_type=prometheus_client.CONTENT_TYPE_LATEST)

    routes = [Route("/generate", generate), Route("/metadata", metadata),
              Route("/healthz", healthz), Route("/health", healthz), Route("/", healthz),
              Route("/readyz", readyz), Route("/metrics", metrics_page)]
    for route in routes:
        route.methods = {"GET"}  # Starlette adds HEAD to GET routes: refuse it too

    async def http_error(request, exc):
        if exc.status_code == 404:
            message = (f"no such endpoint {request.url.path[:200]}: use /generate, /metadata, "
                       "/healthz, /readyz or /metrics")
        elif exc.status_code == 405:
            message = f"method {request.method} not allowed: use GET"
        else:
            message = exc.detail
        return _error(exc.status_code, message, exc.headers)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher.start()
        s.ready = True
        try:
            yield
        finally:
            s.ready = False
            await batcher.stop()
            ort_pool.shutdown(wait=False)

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error},
                    lifespan=lifespan)
    app.state.service = s
    guarded = Guard(app, s)
    guarded.state = app.state
    return guarded


# ---------------------------------------------------------------- the protocol
def protocol_class(service):
    """uvicorn's httptools protocol with the limits a client can break before
    the app sees a request: a JSON answer (and no log traceback) for malformed
    HTTP (400), a request line over the query limit (414), headers over their
    limit (431), and headers not received within ``read_timeout`` (408: the
    slowloris defence; an idle connection with no request just closes)."""
    limits, metrics = service.limits, service.metrics
    max_url = limits.max_query + 2048

    class _Refused(Exception):
        pass

    class Protocol(HttpToolsProtocol):
        def connection_made(self, transport):
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                # headers and body go out as two writes: without TCP_NODELAY the
                # second waits for the client's delayed ACK (40 ms on Linux)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().connection_made(transport)
            self._refused = False
            self._partial = False
            self._url_bytes = self._header_bytes = 0
            self._header_timer = self.loop.call_later(limits.read_timeout, self._read_timed_out)

        def connection_lost(self, exc):
            self._cancel_header_timer()
            super().connection_lost(exc)

        def _cancel_header_timer(self):
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def data_received(self, data):
            if self._refused:
                return
            if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
                # bytes while no request is in progress (a new request, or the rest of
                # a body the answer did not wait for): a request must be complete in time
                self._header_timer = self.loop.call_later(limits.read_timeout,
                                                          self._read_timed_out)
            self._unset_keepalive_if_required()
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                pass  # no upgrades: the request was answered as plain HTTP
            except httptools.HttpParserError as e:
                if not self._refused:
                    reason = str(e).split(":")[-1].strip() or "unparsable"
                    self._refuse(400, f"invalid HTTP request ({reason[:100]})", "invalid")

        def _refuse(self, status, message, reason):
            if self._refused:
                return
            self._refused = True
            self._cancel_header_timer()
            metrics.refuse(reason)
            if not service.quiet:
                client = self.client or ("-", 0)
                log.info("%s: %s:%s refused: %s %s", PROG, client[0], client[1], status,
                         message)
            if self.cycle is None or self.cycle.response_complete:
                body = _error_body(message)
                head = [f"HTTP/1.1 {status} {_REASONS.get(status, '')}",
                        "content-type: application/json",
                        f"content-length: {len(body)}", "connection: close", "", ""]
                self.transport.write("\r\n".join(head).encode() + body)
            self.transport.close()

        def _read_timed_out(self):
            self._header_timer = None
            if self._partial:
                self._refuse(408, "request headers not received within "
                                  f"{limits.read_timeout:g} s", "read_timeout")
            elif not self.transport.is_closing():
                metrics.refuse("idle")
                self.transport.close()

        def on_message_begin(self):
            super().on_message_begin()
            self._partial = True
            self._url_bytes = self._header_bytes = 0
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(limits.read_timeout,
                                                          self._read_timed_out)

        def on_url(self, url):
            self._url_bytes += len(url)
            if self._url_bytes > max_url:
                self._refuse(414, f"request line too long: more than {max_url} bytes "
                                  f"(the query may have {limits.max_query})", "uri_too_long")
                raise _Refused()
            super().on_url(url)

        def on_header(self, name, value):
            self._header_bytes += len(name) + len(value)
            if self._header_bytes > limits.max_headers:
                self._refuse(431, f"request headers too large: more than "
                                  f"{limits.max_headers} bytes", "headers_too_large")
                raise _Refused()
            super().on_header(name, value)

        def on_headers_complete(self):
            self._partial = False
            self._cancel_header_timer()
            super().on_headers_complete()

    return Protocol


_REASONS = {400: "Bad Request", 408: "Request Timeout", 414: "URI Too Long",
            431: "Request Header Fields Too Large"}


# ------------------------------------------------------------------------ main
class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser():
    p = _Parser(prog=PROG, description=__doc__.split("\n")[0])
    d = Limits()
    p.add_argument("model", help="an .onnx file written by `kerasgan export`")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=8080, help="port (0: a free one)")
    p.add_argument("--max-n", type=int, default=d.max_n, help="largest n a request may ask")
    p.add_argument("--runners", type=int, default=min(os.cpu_count() or 1, 4),
                   help="ONNX Runtime calls at once (default: the CPU count, at most 4)")
    p.add_argument("--threads", type=int, default=None,
                   help="ONNX Runtime intra-op threads a call (default: 1 when --runners > 1)")
    p.add_argument("--max-in-flight", type=int, default=d.max_in_flight,
                   help="/generate and /metadata requests at once; more get 503")
    p.add_argument("--timeout", type=float, default=d.timeout,
                   help="seconds a generation may take before the request gets 503")
    p.add_argument("--read-timeout", type=float, default=d.read_timeout,
                   help="seconds a client has to send its headers (and a body): 408 after")
    p.add_argument("--max-query", type=int, default=d.max_query,
                   help="bytes of query string (414 above)")
    p.add_argument("--max-body", type=int, default=d.max_body,
                   help="bytes of request body (413 above)")
    p.add_argument("--max-batch", type=int, default=64,
                   help="images per ONNX Runtime call when merging requests")
    p.add_argument("--batch-wait-ms", type=float, default=0.0,
                   help="ms to wait for more requests before running a batch (0)")
    p.add_argument("--no-batching", action="store_true",
                   help="run every request alone (no dynamic batching)")
    p.add_argument("--no-metrics", action="store_true", help="no /metrics")
    p.add_argument("--keep-alive", type=float, default=5.0,
                   help="seconds an idle keep-alive connection stays open")
    p.add_argument("--quiet", action="store_true", help="do not log requests")
    p.add_argument("--workers", type=int, default=1,
                   help="server processes sharing the port (default 1); each loads the model "
                        "and has its own batching, limits and /metrics")
    p.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)
    return p


def _check(args):
    checks = [("--max-n", args.max_n, 1, 4096), ("--port", args.port, 0, 65535),
              ("--max-in-flight", args.max_in_flight, 1, 100000),
              ("--max-batch", args.max_batch, 1, 4096), ("--runners", args.runners, 1, 64),
              ("--max-query", args.max_query, 64, 1 << 20),
              ("--max-body", args.max_body, 0, 1 << 30),
              ("--threads", args.threads if args.threads is not None else 1, 1, 1024),
              ("--workers", args.workers, 1, 64)]
    for name, value, low, high in checks:
        if not low <= value <= high:
            raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    for name, value in [("--timeout", args.timeout), ("--read-timeout", args.read_timeout),
                        ("--keep-alive", args.keep_alive)]:
        if not value > 0 or value != value or value == float("inf"):
            raise ValueError(f"{name} must be a number of seconds > 0, got {value}")
    if not 0 <= args.batch_wait_ms <= 1000:
        raise ValueError(f"--batch-wait-ms must be in [0, 1000], got {args.batch_wait_ms}")


def _worker_argv(argv, fd):
    """The command line of a worker process: this one without ``--workers``, with
    the listening socket's file descriptor."""
    out, skip = [], False
    for token in argv:
        if skip:
            skip = False
            continue
        if token == "--workers":
            skip = True
            continue
        if token.startswith("--workers="):
            continue
        out.append(token)
    return [sys.executable, os.path.abspath(__file__), *out, "--listen-fd", str(fd)]


def _supervise(argv, sock, workers):
    """``--workers N``: N copies of this server (fresh processes, each loading the
    model) accept connections on the one listening socket; a signal to this
    process goes to them, and when one exits the others are stopped (a process
    supervisor restarts the service)."""
    import signal
    import subprocess

    fd = sock.fileno()
    procs = [subprocess.Popen(_worker_argv(argv, fd), pass_fds=(fd,))
             for _ in range(workers)]

    def forward(signum, frame):
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    try:
        while all(proc.poll() is None for proc in procs):
            time.sleep(0.2)
    finally:
        forward(signal.SIGTERM, None)
        for proc in procs:
            try:
                code = code or proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        sock.close()
    return code if code > 0 else 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        _check(args)
        if _WEB_ERROR is not None:
            raise ValueError(f"the service needs starlette, uvicorn and httptools "
                             f"({_WEB_ERROR}): pip install -r requirements-serve.txt")
        threads = args.threads if args.threads is not None else (
            1 if args.runners > 1 else None)
        gen = OnnxGenerator(args.model, threads=threads)
        limits = Limits(max_n=args.max_n, max_query=args.max_query, max_body=args.max_body,
                        read_timeout=args.read_timeout, timeout=args.timeout,
                        max_in_flight=args.max_in_flight)
        app = build_app(gen, limits=limits, batching=not args.no_batching,
                        max_batch=args.max_batch, max_wait=args.batch_wait_ms / 1000,
                        runners=args.runners,
                        metrics=not args.no_metrics, quiet=args.quiet)
        if not gen.is_text:  # the first ONNX Runtime call is slow: make it before serving
            gen.generate(1, seed=0, labels=0 if gen.conditional else None)
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        if args.listen_fd is not None:  # a worker of --workers: the parent's socket
            sock = socket.socket(fileno=args.listen_fd)
            family = sock.family
        else:
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((args.host, args.port))
            except OSError as e:
                sock.close()
                raise OSError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") \
                    from None
            sock.listen(2048)
    except (ModelError, ValueError, OSError, ImportError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    if args.workers > 1:
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        del app, gen  # each worker loads its own
        print(f"{PROG}: serving {args.model} with {args.workers} worker processes on "
              f"http://{shown}:{port}", flush=True)
        return _supervise(argv, sock, args.workers)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    uv = logging.getLogger("uvicorn.error")
    uv_handler = logging.StreamHandler(sys.stderr)
    uv_handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
    uv.addHandler(uv_handler)
    uv.setLevel(logging.WARNING)
    uv.propagate = False
    config = uvicorn.Config(app, http=protocol_class(app.state.service), ws="none",
                            lifespan="on", log_config=None, access_log=False,
                            timeout_keep_alive=args.keep_alive, timeout_graceful_shutdown=10,
                            server_header=False, backlog=2048)
    server = uvicorn.Server(config)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    if args.listen_fd is None:
        print(f"{PROG}: serving {gen.family} ({args.model}) on http://{shown}:{port}",
              flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
