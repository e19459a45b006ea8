"""Fan-out of event streams: many open streams on few filters, and writes reaching them.

Opens STREAMS streams (`GET /v1/events/stream?tag=fan-<i % FILTERS>`) over raw sockets,
then makes WRITES writes through the API, one every INTERVAL seconds, each with one of
the filters' tags, and times each write from the moment its request was sent (before
the commit: the figure is an upper bound) to the moment each matching stream received
its `created` message. Also reads the server's `/metrics` before and after, to report
how many change reads (statements) the hub ran per write.

Usage: python3 bench/streams.py BASE_URL TOKEN [STREAMS] [FILTERS] [WRITES] [INTERVAL]
With WRITE_URL set, the writes go to that instance instead (the streams stay on
BASE_URL): the path through PostgreSQL's NOTIFY. Prints one JSON object. Standard library
only.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import urllib.parse
import urllib.request

BASE = sys.argv[1]
TOKEN = sys.argv[2]
STREAMS = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
FILTERS = int(sys.argv[4]) if len(sys.argv) > 4 else 100
WRITES = int(sys.argv[5]) if len(sys.argv) > 5 else 100
INTERVAL = float(sys.argv[6]) if len(sys.argv) > 6 else 0.1
HOST = urllib.parse.urlsplit(BASE)
WRITE_BASE = os.environ.get("WRITE_URL", BASE)
RUN = str(int(time.time()))

sent_at: dict[str, float] = {}
latencies: list[float] = []
received = 0


def metric(name: str) -> float:
    with urllib.request.urlopen(BASE + "/metrics", timeout=10) as response:
        total = 0.0
        for line in response.read().decode().splitlines():
            if line.startswith(name):
                total += float(line.rsplit(" ", 1)[1])
        return total


async def follow(index: int, opened: asyncio.Event, counter: list[int]) -> None:
    global received
    reader, writer = await asyncio.open_connection(HOST.hostname, HOST.port)
    tag = f"fan-{RUN}-{index % FILTERS}"
    writer.write(
        f"GET /v1/events/stream?tag={tag} HTTP/1.1\r\nHost: {HOST.netloc}\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise SystemExit(f"stream {index}: {status!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    counter[0] += 1
    if counter[0] == STREAMS:
        opened.set()
    event = None
    while True:
        line = await reader.readline()
        if not line:
            return
        # Chunked transfer: size lines and blank lines are not SSE fields.
        text = line.decode().rstrip("\r\n")
        if text.startswith("event: "):
            event = text[7:]
        elif text.startswith("data: ") and event == "created":
            now = time.monotonic()
            title = json.loads(text[6:])["title"]
            if title in sent_at:
                latencies.append(now - sent_at[title])
                received += 1
            event = None


def post(title: str, tag: str) -> None:
    body = json.dumps({"title": title, "occurred_on": "2024-01-01", "category": "industry",
                       "significance": "minor", "tags": [tag]}).encode()
    request = urllib.request.Request(
        WRITE_BASE + "/v1/events", data=body, method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


async def main() -> None:
    opened = asyncio.Event()
    counter = [0]
    tasks = [asyncio.create_task(follow(i, opened, counter)) for i in range(STREAMS)]
    await asyncio.wait_for(opened.wait(), timeout=120)
    await asyncio.sleep(1.0)
    reads_before = metric("event_stream_change_reads_total")
    loop = asyncio.get_running_loop()
    began = time.monotonic()
    for n in range(WRITES):
        title = f"Fan {RUN} {n}"
        sent_at[title] = time.monotonic()
        await loop.run_in_executor(None, post, title, f"fan-{RUN}-{n % FILTERS}")
        await asyncio.sleep(INTERVAL)
    expected = WRITES * (STREAMS // FILTERS)
    deadline = time.monotonic() + 10
    while received < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - began
    reads = metric("event_stream_change_reads_total") - reads_before
    for task in tasks:
        task.cancel()
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1) if ordered else -1

    print(json.dumps({
        "streams": STREAMS, "filters": FILTERS, "writes": WRITES,
        "writes_to": "another instance" if WRITE_BASE != BASE else "the same instance",
        "writes_per_second": round(WRITES / elapsed, 1),
        "messages_expected": expected, "messages_received": received,
        "latency_ms": {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99),
                       "max": pct(1.0)},
        "hub_change_reads": int(reads), "hub_change_reads_per_write": round(reads / WRITES, 2),
    }))


asyncio.run(main())
