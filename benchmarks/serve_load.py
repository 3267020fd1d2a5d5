"""Load test of export/serve.py on 127.0.0.1: the old http.server service
(commit 3ed85b1) against the new one (Starlette on uvicorn), with and without
dynamic batching, and a soak run with malformed and slow clients mixed in.

    python benchmarks/serve_load.py                  # the table (about 4 minutes)
    python benchmarks/serve_load.py --soak 180       # and a 3-minute soak of the new server
    python benchmarks/serve_load.py --quick          # 1 s a cell, dcgan-mnist only

Models: zoo exports (``kerasgan zoo export NAME --out DIR --format onnx``),
made in ``--models`` when missing: dcgan-mnist (28x28x1) and sngan-cifar10
(32x32x3, class-conditional: requests ask label=SEED%10).

The load generator runs in a separate process (this file with ``--client``):
one asyncio event loop, one keep-alive connection per simulated client on raw
sockets (asyncio streams), each client sending its next request as soon as its
last answer is read. Each client first makes one request (not counted) and
waits for the others; then the measured seconds: every request started in them
counts. Throughput is those requests
over the time from the window's start to the last one's answer; latency is
from writing a request to reading the whole answer. Server and client share
the machine's cores: the client process's CPU time is reported per cell (a
client near 100% of one core would be a bottleneck).

Pixels: for every model, 64 concurrent requests with distinct seeds (n of 1, 3
and 64) to the batching server, and the same requests one at a time to the
unbatched one; each PNG decoded and compared with the grid of the kit's
``OnnxGenerator.generate(n, seed)`` (the reference: the pixels kerasgan's
``gan.generate`` gives, tests/test_deploy_kit.py). The maximum difference is
reported (0: identical uint8 pixels).

Writes runs/bench/serve_load.json (and prints a markdown table).
"""

import argparse
import asyncio
import io
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KIT = os.path.join(REPO, "export")
OLD_COMMIT = "3ed85b1"


# ------------------------------------------------------------------ the client
async def _request(reader, writer, path, method="GET"):
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _load(port, clients, path_of, seconds, warmup):
    """Each client opens its connection and makes one request (warm-up, not
    counted); once all have, each makes requests back to back for ``seconds``
    (plus ``warmup`` seconds not counted); every request started in the
    measured window counts, to its answer."""
    latencies, statuses = [], {}
    warmed, go = [0], asyncio.Event()
    window = {}

    async def client(index):
        writer = None
        i = 0
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await _request(reader, writer, path_of(index, 10**6))
            warmed[0] += 1
            if warmed[0] == clients:
                now = time.perf_counter()
                window.update(start=now + warmup, end=now + warmup + seconds, last=now)
                go.set()
            await go.wait()
            while time.perf_counter() < window["end"]:
                t0 = time.perf_counter()
                status = None
                for attempt in (0, 1):
                    try:
                        if writer is None:
                            reader, writer = await asyncio.open_connection("127.0.0.1", port)
                        status, _ = await _request(reader, writer, path_of(index, i))
                        break
                    except (ConnectionError, asyncio.IncompleteReadError):
                        # the server closes a keep-alive connection idle for its
                        # keep-alive time: retry once on a new one, as HTTP clients do
                        if writer is not None:
                            writer.close()
                        writer = None
                status = status or "reset"  # failed twice: an error
                t1 = time.perf_counter()
                i += 1
                if t0 >= window["start"]:
                    latencies.append(t1 - t0)
                    statuses[status] = statuses.get(status, 0) + 1
                    window["last"] = max(window["last"], t1)
        finally:
            if writer is not None:
                writer.close()

    await asyncio.gather(*(client(c) for c in range(clients)))
    return latencies, statuses, window["last"] - window["start"]


def client_main(args):
    """``--client PORT CLIENTS N SECONDS LABEL``: prints one JSON line."""
    port, clients, n, seconds, label = args
    port, clients, n, seconds = int(port), int(clients), int(n), float(seconds)

    def path_of(index, i):
        seed = index * 1000003 + i
        extra = f"&label={seed % 10}" if label == "1" else ""
        return f"/generate?n={n}&seed={seed}{extra}"

    cpu0 = time.process_time()
    latencies, statuses, elapsed = asyncio.run(_load(port, clients, path_of, seconds, 0.0))
    cpu = time.process_time() - cpu0
    lat = np.sort(np.array(latencies)) * 1e3
    print(json.dumps({
        "requests": len(lat), "seconds": elapsed, "statuses": statuses,
        "rps": len(lat) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
        "client_cpu": cpu / max(elapsed, 1e-9),
    }))


# ------------------------------------------------------------------- servers
class Server:
    def __init__(self, script, model, *args, log=None):
        self.log = open(log or os.devnull, "w")
        self.proc = subprocess.Popen([sys.executable, script, model, "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if "serving" not in line:
            self.proc.kill()
            raise RuntimeError(f"{script} did not start: {line}")
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.pid = self.proc.pid

    def get(self, path):
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def old_server_script(tmp):
    """The http.server service of commit 3ed85b1, beside the current onnx_generator.py."""
    source = subprocess.run(["git", "-C", REPO, "show", f"{OLD_COMMIT}:export/serve.py"],
                            capture_output=True, text=True, check=True).stdout
    folder = os.path.join(tmp, "old_kit")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "serve.py"), "w") as f:
        f.write(source)
    shutil.copy(os.path.join(KIT, "onnx_generator.py"), folder)
    return os.path.join(folder, "serve.py")


SERVERS = {
    "old": lambda old, model: Server(old, model, "--quiet"),
    "new, no batching": lambda old, model: Server(os.path.join(KIT, "serve.py"), model,
                                                  "--quiet", "--no-batching"),
    "new, batching": lambda old, model: Server(os.path.join(KIT, "serve.py"), model, "--quiet"),
    "new, batching, 2 workers": lambda old, model: Server(os.path.join(KIT, "serve.py"), model,
                                                          "--quiet", "--workers", "2"),
    "new, batching, 1 runner x 2 threads": lambda old, model: Server(
        os.path.join(KIT, "serve.py"), model, "--quiet", "--runners", "1", "--threads", "2"),
}


def export_models(folder, names):
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for name in names:
        path = os.path.join(folder, f"{name}.onnx")
        if not os.path.exists(path):
            subprocess.run(["kerasgan", "zoo", "export", name, "--out", folder, "--format",
                            "onnx"], check=True)
        paths[name] = path
    return paths


def run_cell(port, clients, n, seconds, conditional):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--client", str(port),
                          str(clients), str(n), str(seconds), "1" if conditional else "0"],
                         capture_output=True, text=True, timeout=seconds + 300)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout)


# -------------------------------------------------------------------- pixels
def check_pixels(model, batching, alone):
    """Max |difference| of uint8 pixels between each server's PNG and the
    reference grid of ``OnnxGenerator.generate(n, seed)``."""
    from PIL import Image

    sys.path.insert(0, KIT)
    from onnx_generator import OnnxGenerator, make_grid

    gen = OnnxGenerator(model)
    jobs = [(seed, (1, 3, 64)[seed % 3]) for seed in range(64)]

    def query(seed, n):
        return f"/generate?n={n}&seed={seed}" + (f"&label={seed % 10}" if gen.conditional
                                                 else "")

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(64) as pool:
        merged = list(pool.map(lambda j: batching.get(query(*j)), jobs))
    lone = [alone.get(query(*j)) for j in jobs]
    worst = {"batched": 0, "unbatched": 0}
    for (seed, n), got_merged, got_alone in zip(jobs, merged, lone):
        ref = make_grid(gen.generate(n, seed=seed, labels=seed % 10 if gen.conditional
                                     else None))
        ref = ref[..., 0] if ref.shape[-1] == 1 else ref
        for key, (status, body) in (("batched", got_merged), ("unbatched", got_alone)):
            assert status == 200, (status, body[:200])
            pixels = np.asarray(Image.open(io.BytesIO(body)))
            worst[key] = max(worst[key], int(np.abs(pixels.astype(int) - ref).max()))
    return {"requests": len(jobs), "max_diff_batched": worst["batched"],
            "max_diff_unbatched": worst["unbatched"]}


# ---------------------------------------------------------------------- soak
async def _soak(port, seconds, stats):
    end = time.monotonic() + seconds
    rng = random.Random(0)

    def count(kind, status):
        stats.setdefault(kind, {})
        stats[kind][str(status)] = stats[kind].get(str(status), 0) + 1

    async def fresh():
        return await asyncio.open_connection("127.0.0.1", port)

    async def read_answer(reader):
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            return int(head.split(b" ", 2)[1])
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError):
            return "closed"

    async def good(index):
        reader, writer = await fresh()
        while time.monotonic() < end:
            n = rng.choice((1, 1, 1, 4, 16, 64))
            status, _ = await _request(reader, writer, f"/generate?n={n}&seed={rng.randrange(10**9)}")
            count("good", status)
        writer.close()

    async def one_shot(kind, data, pause=0.05):
        while time.monotonic() < end:
            try:
                reader, writer = await fresh()
                writer.write(data() if callable(data) else data)
                await writer.drain()
                count(kind, await read_answer(reader))
                writer.close()
            except ConnectionError:
                count(kind, "reset")
            await asyncio.sleep(pause)

    async def partial_hangup():
        while time.monotonic() < end:
            reader, writer = await fresh()
            writer.write(b"GET /generate?n=4 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Ag")
            await writer.drain()
            writer.transport.abort()
            count("partial headers, hang-up", "-")
            await asyncio.sleep(0.05)

    async def slowloris():
        while time.monotonic() < end:
            reader, writer = await fresh()
            status = "closed"
            for byte in b"GET /generate?n=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
                try:
                    writer.write(bytes([byte]))
                    await writer.drain()
                except ConnectionError:
                    break
                if reader.at_eof() or writer.is_closing():
                    break
                try:
                    data = await asyncio.wait_for(reader.read(1), 0.5)
                    if data:
                        rest = await reader.read(4096)
                        status = int((data + rest).split(b" ", 2)[1])
                        break
                except asyncio.TimeoutError:
                    continue
                except ConnectionError:
                    break
            count("slowloris", status)
            writer.close()

    async def disconnect_mid_response():
        while time.monotonic() < end:
            reader, writer = await fresh()
            writer.write(b"GET /generate?n=64&scale=8 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            try:
                await asyncio.wait_for(reader.read(1000), 30)
            except (asyncio.TimeoutError, ConnectionError):
                pass
            writer.transport.abort()
            count("disconnect mid-response", "-")
            await asyncio.sleep(0.1)

    def bad_param():
        return rng.choice([b"GET /generate?n=0 HTTP/1.1\r\n\r\n",
                           b"GET /generate?seed=-3 HTTP/1.1\r\n\r\n",
                           b"GET /generate?colour=red HTTP/1.1\r\n\r\n",
                           b"GET /generate?n=2&n=3 HTTP/1.1\r\n\r\n"])

    tasks = [good(i) for i in range(16)]
    tasks += [one_shot("bad params", bad_param),
              one_shot("huge query (70k)", b"GET /generate?seed=" + b"1" * 70000
                       + b" HTTP/1.1\r\n\r\n", 0.1),
              one_shot("bad method", lambda: rng.choice([b"HEAD", b"PUT", b"DELETE", b"OPTIONS"])
                       + b" /generate HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
              one_shot("big body", b"GET /generate HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n"
                       + b"x" * 65536, 0.1),
              one_shot("malformed", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 0.1),
              one_shot("unknown path", b"GET /wp-admin HTTP/1.1\r\n\r\n"),
              partial_hangup(), disconnect_mid_response()]
    tasks += [slowloris() for _ in range(8)]
    await asyncio.gather(*tasks)


def soak_main(args):
    port, seconds = int(args[0]), float(args[1])
    stats = {}
    asyncio.run(_soak(port, seconds, stats))
    print(json.dumps(stats))


def soak(model, seconds, log):
    server = Server(os.path.join(KIT, "serve.py"), model, log=log)
    rss, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            rss.append((time.monotonic(), server.rss_kib()))
            stop.wait(1.0)

    for seed in range(200):  # warm: the allocator's pools, the PNG encoder
        server.get(f"/generate?n={1 + seed % 64}&seed={seed}")
    start_rss = server.rss_kib()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--soak-client",
                          str(server.port), str(seconds)], capture_output=True, text=True,
                         timeout=seconds + 120)
    stop.set()
    sampler.join()
    time.sleep(1)
    end_rss = server.rss_kib()
    alive = server.get("/healthz")[0] == 200
    metrics = server.get("/metrics")[1].decode()
    server.stop()
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    stats = json.loads(out.stdout)
    with open(log) as f:
        text = f.read()
    five = sum(v for kind in stats.values() for k, v in kind.items() if k.startswith("5"))
    return {
        "seconds": seconds, "requests": stats,
        "5xx": five, "alive_after": alive,
        "log_tracebacks": text.count("Traceback"), "log_lines": text.count("\n"),
        "log_500_lines": text.count(" 500 "),
        "rss_kib": {"start": start_rss, "peak": max(r for _, r in rss), "end": end_rss},
        "refused_connections": {line.split('"')[1]: float(line.rsplit(" ", 1)[1])
                                for line in metrics.splitlines()
                                if line.startswith("kerasgan_refused_connections_total")},
    }


# ---------------------------------------------------------------------- main
def table(rows):
    out = ["| model | clients | n | server | req/s | images/s | p50 ms | p99 ms | non-200 | "
           "client CPU |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        bad = sum(v for k, v in r["statuses"].items() if str(k) != "200")
        out.append(f"| {r['model']} | {r['clients']} | {r['n']} | {r['server']} | "
                   f"{r['rps']:.0f} | {r['rps'] * r['n']:.0f} | {r['p50_ms']:.1f} | "
                   f"{r['p99_ms']:.1f} | {bad} | {r['client_cpu']:.0%} |")
    return "\n".join(out)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        return client_main(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "--soak-client":
        return soak_main(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=os.path.join(REPO, "runs", "bench", "models"))
    p.add_argument("--names", nargs="+", default=["dcgan-mnist", "sngan-cifar10"])
    p.add_argument("--clients", nargs="+", type=int, default=[1, 8, 64])
    p.add_argument("--n", nargs="+", type=int, default=[1, 64])
    p.add_argument("--seconds", type=float, default=3.0, help="measured seconds a cell")
    p.add_argument("--servers", nargs="+", default=list(SERVERS), choices=list(SERVERS))
    p.add_argument("--soak", type=float, default=0, help="seconds of soak (0: none)")
    p.add_argument("--quick", action="store_true", help="1 s a cell, dcgan-mnist only")
    p.add_argument("--out", default=os.path.join(REPO, "runs", "bench", "serve_load.json"))
    args = p.parse_args()
    if args.quick:
        args.seconds, args.names = 1.0, ["dcgan-mnist"]
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(
        resource.RLIMIT_NOFILE)[1]))
    models = export_models(args.models, args.names)
    tmp = tempfile.mkdtemp(prefix="serve_load_")
    old = old_server_script(tmp)
    result = {"cpus": os.cpu_count(), "loadavg_before": os.getloadavg(), "rows": [],
              "pixels": {}, "old_commit": OLD_COMMIT}
    try:
        for name, model in models.items():
            sys.path.insert(0, KIT)
            from onnx_generator import OnnxGenerator

            conditional = OnnxGenerator(model).conditional
            for server_name in args.servers:
                server = SERVERS[server_name](old, model)
                try:
                    for n in args.n:
                        for clients in args.clients:
                            row = run_cell(server.port, clients, n, args.seconds, conditional)
                            row.update(model=name, server=server_name, clients=clients, n=n)
                            result["rows"].append(row)
                            print(table([row]).split("\n")[-1], flush=True)
                finally:
                    server.stop()
            batching = SERVERS["new, batching"](old, model)
            alone = SERVERS["new, no batching"](old, model)
            try:
                result["pixels"][name] = check_pixels(model, batching, alone)
            finally:
                batching.stop()
                alone.stop()
            print(name, "pixels:", result["pixels"][name], flush=True)
        if args.soak:
            log = os.path.join(tmp, "soak.log")
            result["soak"] = soak(models[args.names[0]], args.soak, log)
            print("soak:", json.dumps(result["soak"], indent=1), flush=True)
    finally:
        result["loadavg_after"] = os.getloadavg()
        shutil.rmtree(tmp, ignore_errors=True)
    rows = sorted(result["rows"], key=lambda r: (r["model"], r["n"], r["clients"],
                                                 list(SERVERS).index(r["server"])))
    print()
    print(table(rows))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\nwrote {args.out}; load average before {result['loadavg_before']}, after "
          f"{result['loadavg_after']}")


if __name__ == "__main__":
    main()
