"""A lean HTTP/1.1 load generator for the benchmarks: keep-alive connections, asyncio, raw bytes.

    python -m bench.http_load --url http://127.0.0.1:8000/api/tasks/enqueue --key KEY \\
        --body '{"task_name": "bench.noop", "params": {}}' --conns 8 --duration 15
    python -m bench.http_load ... --rate 500 --duration 20        # open loop: 500 requests/s

Closed loop (no --rate): each connection sends its next request as soon as the answer to the
last one arrived, so the figure is the server's capacity. Open loop (--rate R): request i is
due at start + i/R whatever the server does; a request waits for a free connection if all are
busy, and its latency counts from its due time, so a slow server shows as latency rather than
as a slower schedule. Prints one JSON line: requests, errors, requests/s, latency percentiles
(ms) from the due time and from the send, and this process's CPU per request.

It runs in a process of its own (the benchmarks start it with subprocess), so its CPU is
measured apart from the server's. Each request's body may carry the time it was due, in
nanoseconds, where the body has the placeholder {T}: the benchmarks measure enqueue ->
completed from it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Tally:
    from_due: list[float] = field(default_factory=list)  # seconds
    from_send: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50) * 1000, 2),
        "p90": round(percentile(values, 90) * 1000, 2),
        "p99": round(percentile(values, 99) * 1000, 2),
        "max": round(max(values) * 1000, 2) if values else float("nan"),
    }


class Client:
    """One keep-alive connection; sends a request and reads the whole answer."""

    def __init__(self, host: str, port: int, head: bytes, body: str) -> None:
        self.host, self.port = host, port
        self.head, self.body = head, body
        self.reconnects = 0  # times the server had closed this idle connection
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, due_ns: int) -> int:
        body = self.body.replace("{T}", str(due_ns)).encode()
        for attempt in (0, 1):
            if self.writer is None:
                await self.connect()
            assert self.reader is not None
            assert self.writer is not None
            try:
                self.writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
                status_line = await self.reader.readuntil(b"\r\n")
                headers = await self.reader.readuntil(b"\r\n\r\n")
                length = 0
                closing = False
                for line in headers.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        closing = True
                await self.reader.readexactly(length)
                if closing:
                    self.close()
                return int(status_line.split()[1])
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()  # the server closed an idle connection: send once more
                if attempt:
                    raise
                self.reconnects += 1
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def run(args: argparse.Namespace) -> dict[str, object]:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    head = (
        f"POST {url.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {args.key}\r\nContent-Type: application/json\r\n"
        "Content-Length: "
    ).encode()
    clients = [Client(host, port, head, args.body) for _ in range(args.conns)]
    for client in clients:
        await client.connect()
    idle: asyncio.Queue[Client] = asyncio.Queue()
    for client in clients:
        idle.put_nowait(client)
    tally = Tally()
    start = time.monotonic()
    start_ns = time.time_ns()
    end = start + args.duration

    async def one(due: float) -> None:
        client = await idle.get()
        sent = time.monotonic()
        try:
            status = await client.request(start_ns + int((due - start) * 1e9))
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
            done = time.monotonic()
            tally.from_due.append(done - due)
            tally.from_send.append(done - sent)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            tally.errors += 1
        finally:
            idle.put_nowait(client)

    cpu0 = _cpu()
    if args.rate:
        tasks = []
        i = 0
        while (due := start + i / args.rate) < end:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due)))
            i += 1
        await asyncio.gather(*tasks)
    else:

        async def loop() -> None:
            while (now := time.monotonic()) < end:
                await one(now)

        await asyncio.gather(*(loop() for _ in clients))
    elapsed = time.monotonic() - start
    cpu = _cpu() - cpu0
    for client in clients:
        client.close()
    n = len(tally.from_due)
    return {
        "requests": n,
        "errors": tally.errors,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "offered_per_s": args.rate or None,
        "requests_per_s": round(n / elapsed, 1),
        "stale_connection_retries": sum(client.reconnects for client in clients),
        "latency_ms_from_due": summary(tally.from_due),
        "latency_ms_from_send": summary(tally.from_send),
        "client_cpu_us_per_request": round(cpu / max(n, 1) * 1e6, 1),
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True, help="API key (Bearer)")
    parser.add_argument("--body", required=True, help="JSON body; {T} becomes the due time, ns")
    parser.add_argument("--conns", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=0.0, help="open loop at this rate (/s)")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
