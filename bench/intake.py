"""Webhook intake under load: gunicorn on the embedded defaults (SQLite store, SQLite queue).

Sends 5,000 signed Distribution push events from a separate process with 50 concurrent
clients, then again with 500 re-deliveries mixed in, and prints: accepted events per second,
p50/p99/max latency, events stored vs sent, and duplicate analyses scheduled, for each of
``--repeat`` runs on a fresh server and their median (this machine is shared: single runs
vary). No worker runs, so every scheduled analysis is still in the queue to be counted.

Run: ``.venv/bin/python bench/intake.py [--events 5000] [--clients 50] [--redeliveries 500]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import queue
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.demo.registry import free_port  # noqa: E402

TOKEN = "bench-token-" + "x" * 20


def body(index: int) -> bytes:
    digest = f"sha256:{index:064x}"
    return json.dumps(
        {
            "events": [
                {
                    "id": f"bench-{index}",
                    "timestamp": "2026-11-26T00:00:00Z",
                    "action": "push",
                    "target": {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "size": 1000,
                        "digest": digest,
                        "repository": f"bench/app{index % 50}",
                        "tag": f"t{index}",
                    },
                    "request": {"host": "127.0.0.1:5000", "method": "PUT"},
                    "actor": {"name": "ci"},
                }
            ]
        }
    ).encode()


def client(
    port: int, bodies: list[bytes], clients: int, rate: float, out: multiprocessing.Queue
) -> None:
    """Runs in its own process: send every body once over ``clients`` connections.

    rate 0: closed loop, each connection sends again as soon as it is answered (the most the
    server takes). rate R: open loop, delivery i is due at i/R seconds, as a registry sends
    them; latency counts from when it was due, so a server that falls behind is charged for
    the wait (no coordinated omission).
    """
    work: queue.Queue[tuple[int, bytes]] = queue.Queue()
    for index, item in enumerate(bodies):
        work.put((index, item))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def run() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": "application/vnd.docker.distribution.events.v1+json",
        }
        while True:
            try:
                index, item = work.get_nowait()
            except queue.Empty:
                return
            started = time.perf_counter()
            if rate:
                due = begin + index / rate
                if due > started:
                    time.sleep(due - started)
                started = due
            connection.request("POST", "/webhooks/local", body=item, headers=headers)
            response = connection.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[response.status] = statuses.get(response.status, 0) + 1

    begin = started = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    out.put({"seconds": elapsed, "latencies": latencies, "statuses": statuses})


def measure(
    port: int,
    data_dir: Path,
    bodies: list[bytes],
    clients: int,
    unique: int,
    rate: float,
) -> dict[str, float]:
    out: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=client, args=(port, bodies, clients, rate, out))
    process.start()
    result = out.get()
    process.join()
    latencies = sorted(result["latencies"])
    with sqlite3.connect(data_dir / "tightship.db") as db:
        stored = db.execute("SELECT count(*) FROM events").fetchone()[0]
        scheduled = db.execute(
            "SELECT count(DISTINCT digest) FROM events WHERE status = 'queued'"
        ).fetchone()[0]
    with sqlite3.connect(data_dir / "queue.db") as db:
        tasks = db.execute("SELECT count(*) FROM task").fetchone()[0]
    return {
        "rate": len(latencies) / result["seconds"],
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max": latencies[-1] * 1000,
        "not 202": sum(n for status, n in result["statuses"].items() if status != 202),
        "stored": stored,
        "lost": unique - scheduled,
        "duplicates": tasks - scheduled,
    }


def row(label: str, numbers: dict[str, float]) -> str:
    return (
        f"  {label:<8} {numbers['rate']:6.0f}/s  p50 {numbers['p50']:6.1f}  "
        f"p99 {numbers['p99']:6.1f}  max {numbers['max']:6.1f} ms  stored {numbers['stored']:.0f}  "
        f"lost {numbers['lost']:.0f}  duplicate analyses {numbers['duplicates']:.0f}  "
        f"not 202: {numbers['not 202']:.0f}"
    )


def serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    config = data_dir / "config.yaml"
    config.write_text(
        f"data_dir: {data_dir}\nserver: {{port: {port}}}\nregistries:\n"
        f"  - {{name: local, sender: distribution, url: 'http://127.0.0.1:5000', "
        f"webhook: {{token: '{TOKEN}'}}}}\n"
    )
    env = {**os.environ, "TIGHTSHIP_CONFIG": str(config), "TIGHTSHIP_LOG_LEVEL": "WARNING"}
    for variable in ("DATABASE_URL", "REDIS_URL", "PORT", "TIGHTSHIP_DATA_DIR"):
        env.pop(variable, None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:app.gunicorn_conf",
            "app:create_app()",
            "--access-logfile",
            "/dev/null",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--redeliveries", type=int, default=500)
    parser.add_argument(
        "--rate",
        type=float,
        default=500.0,
        help="deliveries per second for the paced runs (0: closed loop only)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each kind, each on a fresh server"
    )
    args = parser.parse_args()
    workers = os.environ.get("WEB_CONCURRENCY", "2")
    threads = os.environ.get("WEB_THREADS", "4")
    print(f"gunicorn: {workers} workers x {threads} threads; SQLite store and SQLite queue")
    runs = [("distinct events", 0, 0.0), ("with re-deliveries", args.redeliveries, 0.0)]
    if args.rate:
        runs += [
            ("distinct events", 0, args.rate),
            ("with re-deliveries", args.redeliveries, args.rate),
        ]
    for label, redeliveries, rate in runs:
        bodies = [body(i) for i in range(args.events)]
        mixed = bodies + random.Random(7).sample(bodies, redeliveries)
        random.Random(8).shuffle(mixed)
        pace = f"paced at {rate:.0f}/s" if rate else "closed loop"
        print(
            f"\n{label}: {len(mixed)} deliveries ({args.events} distinct), "
            f"{args.clients} clients, {pace}"
        )
        results = []
        for attempt in range(args.repeat):
            data_dir = Path(tempfile.mkdtemp(prefix="tightship-intake-"))
            port = free_port()
            server = serve(data_dir, port)
            try:
                results.append(measure(port, data_dir, mixed, args.clients, args.events, rate))
            finally:
                server.terminate()
                server.wait()
                shutil.rmtree(data_dir, ignore_errors=True)
            print(row(f"run {attempt + 1}", results[-1]))
        if len(results) > 1:
            median = {key: statistics.median(r[key] for r in results) for key in results[0]}
            print(row("median", median))


if __name__ == "__main__":
    main()
