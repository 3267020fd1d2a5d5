#!/usr/bin/env python3
"""Serve a kerasgan ONNX generator over HTTP: numpy, onnxruntime and Pillow only.

::

    python export/serve.py dcgan.onnx --port 8080
    curl -o grid.png "http://127.0.0.1:8080/generate?n=16&seed=3"
    curl -o sevens.png "http://127.0.0.1:8080/generate?n=16&seed=3&label=7"   # conditional
    curl "http://127.0.0.1:8080/generate?n=5&seed=0&temperature=0.8"            # a text model

Endpoints:

- ``GET /generate``: a PNG grid. Parameters: ``n`` (1..--max-n, default 16),
  ``seed`` (integer >= 0; random when absent, echoed in the ``X-Seed`` header),
  ``label`` (required by conditional models: a class in [0, num_classes) or
  ``random``), ``nrow`` (images per row), ``scale`` (1..8, nearest upscaling). Anything else, or a bad value, is a
  ``400`` with a JSON ``{"error": ...}`` naming the problem.
  A text model answers JSON ``{"texts": [...], "ids": [[...]], "seed": S,
  "temperature": T}``; its parameters are ``n``, ``seed`` and ``temperature``
  (a number > 0, default 1.0).
- ``GET /metadata``: the model's metadata (JSON).
- ``GET /health``: ``{"status": "ok"}``.

The same ``seed`` gives the same images as ``kerasgan``'s ``generate(n, seed)``.
Port 0 picks a free port; the first line printed says where it serves.
"""

import argparse
import json
import os
import secrets
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from onnx_generator import ModelError, OnnxGenerator, check_temperature  # noqa: E402

PROG = "serve.py"
MAX_SEED = 2**63 - 1
MAX_SCALE = 8


class BadRequest(ValueError):
    pass


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


def make_handler(gen, max_n, quiet=False):
    class Handler(BaseHTTPRequestHandler):
        server_version = "kerasgan-serve/1"
        protocol_version = "HTTP/1.1"

        def _send(self, status, body, content_type, headers=None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status, obj):
            self._send(status, (json.dumps(obj) + "\n").encode(), "application/json")

        def do_GET(self):  # noqa: N802 (http.server's naming)
            url = urlsplit(self.path)
            try:
                if url.path == "/generate" and gen.is_text:
                    p = parse_generate(url.query, gen, max_n)
                    out = gen.generate_text(p["n"], seed=p["seed"], temperature=p["temperature"])
                    body = {"texts": out.texts, "ids": out.ids.tolist(), "seed": p["seed"],
                            "temperature": p["temperature"]}
                    self._send(200, (json.dumps(body, ensure_ascii=False) + "\n").encode(),
                               "application/json; charset=utf-8", {"X-Seed": str(p["seed"])})
                elif url.path == "/generate":
                    p = parse_generate(url.query, gen, max_n)
                    images = gen.generate(p["n"], seed=p["seed"], labels=p["label"])
                    png = gen.grid_png(images, nrow=p["nrow"], scale=p["scale"])
                    self._send(200, png, "image/png", {"X-Seed": str(p["seed"])})
                elif url.path == "/metadata":
                    self._json(200, gen.metadata)
                elif url.path in ("/health", "/"):
                    self._json(200, {"status": "ok", "family": gen.family})
                else:
                    self._json(404, {"error": f"no such endpoint {url.path}: use /generate, "
                                              "/metadata or /health"})
            except BadRequest as e:
                self._json(400, {"error": str(e)})
            except Exception as e:  # a bug: say so, keep serving
                self._json(500, {"error": f"internal error: {type(e).__name__}: {e}"})

        def do_POST(self):  # noqa: N802
            self._json(405, {"error": "use GET"})

        def log_message(self, fmt, *args):
            if not quiet:
                sys.stderr.write(f"{PROG}: {self.address_string()} {fmt % args}\n")

    return Handler


def build_parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("model", help="an .onnx file written by `kerasgan export`")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (0: a free one)")
    p.add_argument("--max-n", type=int, default=256, help="largest n a request may ask")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    p.add_argument("--quiet", action="store_true", help="do not log requests")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if not 1 <= args.max_n <= 4096:
            raise ValueError(f"--max-n must be in [1, 4096], got {args.max_n}")
        if not 0 <= args.port <= 65535:
            raise ValueError(f"--port must be in [0, 65535], got {args.port}")
        gen = OnnxGenerator(args.model, threads=args.threads)
        server = ThreadingHTTPServer((args.host, args.port), make_handler(gen, args.max_n,
                                                                          args.quiet))
    except (ModelError, ValueError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    server.daemon_threads = True
    host, port = server.server_address[:2]
    print(f"{PROG}: serving {gen.family} ({args.model}) on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "main"
    sys.exit(main())
