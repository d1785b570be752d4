"""Load benchmark of the annotation server (docs/benchmarks.md): many clients, mostly repeated items, slow LLM.

    .venv/bin/python scripts/bench_annotate.py --items 50000 --repeat 0.9 --clients 8 --delay-ms 50

Starts `autoreward serve` as its own process (offline labeller with an injected delay per call, standing in
for a slow LLM), sends `--items` messages from `--clients` concurrent clients (a fraction `--repeat` of them
repeats of earlier ones), then waits until every distinct item has a label. Prints labels/s, annotate
latency percentiles, LLM calls against distinct items, lost labels, and the server's peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

TEMPLATES = ("You kill the {m} {i}!", "The {m} {i} bites!", "You see here a {m} corpse {i}.",
             "You find a hidden passage {i}.", "It's a wall {i}.", "You hear the footsteps of a {m} {i}.",
             "f - a key named {m} {i}.", "You feel feverish {i}.")
MONSTERS = ("newt", "jackal", "grid bug", "sewer rat", "kobold", "gnome lord", "lichen", "floating eye")


def messages(total: int, repeat: float, seed: int) -> list[str]:
    """`total` messages, each new with probability 1 - `repeat`, else a repeat of an earlier one."""
    rng = random.Random(seed)
    seen: list[str] = []
    out = []
    for _ in range(total):
        if seen and rng.random() < repeat:
            out.append(rng.choice(seen))
        else:
            text = rng.choice(TEMPLATES).format(m=rng.choice(MONSTERS), i=len(seen))
            seen.append(text)
            out.append(text)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return round(int(match.group(1)) / 1024, 1) if match else float("nan")


def metric(text: str, name: str) -> float:
    """Sum of the samples of a Prometheus metric (all label sets)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#") and (line[len(name)] in " {"))


async def client(url: str, items: list[str], batch: int, latencies: list[float], ids: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for start in range(0, len(items), batch):
            chunk = items[start:start + batch]
            t0 = time.perf_counter()
            response = await http.post("/v1/annotate", json={"task": "helpful", "items": chunk})
            latencies.append(time.perf_counter() - t0)
            response.raise_for_status()
            for text, result in zip(chunk, response.json()["results"], strict=True):
                ids[text] = result["id"]


async def wait_for_labels(url: str, unique: int, timeout_s: float) -> tuple[dict[str, dict], float]:
    """Poll /v1/labels until every distinct item is known; returns the records by id and when that happened."""
    known: dict[str, dict] = {}
    cursor = 0
    deadline = time.perf_counter() + timeout_s
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while len(known) < unique and time.perf_counter() < deadline:
            response = await http.get("/v1/labels", params={"task": "helpful", "since": cursor, "limit": 5000})
            body = response.json()
            for record in body["labels"]:
                known[record["id"]] = record
            if body["cursor"] == cursor:
                await asyncio.sleep(0.05)
            cursor = body["cursor"]
    return known, time.perf_counter()


async def run(args: argparse.Namespace, url: str) -> dict:
    items = messages(args.items, args.repeat, args.seed)
    unique = len(set(items))
    shares = [items[i::args.clients] for i in range(args.clients)]
    latencies: list[float] = []
    ids: dict[str, str] = {}
    start = time.perf_counter()
    await asyncio.gather(*(client(url, share, args.batch, latencies, ids) for share in shares))
    sent = time.perf_counter()
    known, done = await wait_for_labels(url, unique, args.timeout)
    lat = np.array(latencies) * 1000
    labeled = sum(1 for r in known.values() if r["status"] == "labeled")
    async with httpx.AsyncClient(base_url=url) as http:
        text = (await http.get("/metrics")).text
    return {
        "items": args.items, "unique_items": unique, "clients": args.clients, "batch": args.batch,
        "llm_delay_ms": args.delay_ms, "requests": len(latencies),
        "send_seconds": round(sent - start, 2), "seconds_to_all_labels": round(done - start, 2),
        "labels_per_s": round(labeled / (done - start), 1),
        "items_per_s_accepted": round(args.items / (sent - start), 1),
        "annotate_ms": {"p50": round(float(np.percentile(lat, 50)), 2), "p99": round(float(np.percentile(lat, 99)), 2),
                        "max": round(float(lat.max()), 2)},
        "labeled": labeled, "unlabeled": len(known) - labeled,
        "lost": len(set(ids.values()) - set(known)),
        "llm_calls": int(metric(text, "autoreward_annotate_llm_calls_total")),
        "cache_hits": int(metric(text, "autoreward_annotate_cache_hits_total")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--repeat", type=float, default=0.9)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32, help="items per annotate request")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="simulated LLM latency per call")
    parser.add_argument("--server-batch", type=int, default=16, help="items per LLM call")
    parser.add_argument("--concurrency", type=int, default=8, help="LLM calls in flight at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "autoreward.cli", "serve", "--port", str(port), "--db", f"{tmp}/labels.sqlite",
                   "--llm", "offline", "--offline-delay-ms", str(args.delay_ms), "--batch-size",
                   str(args.server_batch), "--concurrency", str(args.concurrency)]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                raise SystemExit("the server did not start: " + server.stderr.read().decode()[-2000:])
            result = asyncio.run(run(args, url))
            result["server_peak_rss_mib"] = peak_rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(10)
    print(json.dumps(result, indent=2))
    ok = result["lost"] == 0 and result["llm_calls"] <= result["unique_items"] and result["annotate_ms"]["p99"] < 50
    print("PASS" if ok else "FAIL", "(no label lost, LLM calls <= distinct items, annotate p99 < 50 ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
