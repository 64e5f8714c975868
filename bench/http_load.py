"""A lean HTTP/1.1 load generator for the benchmarks: keep-alive connections, one thread,
non-blocking sockets, prepared request bytes.

    python -m bench.http_load --url http://127.0.0.1:8000/api/tasks/enqueue --key KEY \\
        --body '{"task_name": "bench.noop", "params": {"t": {T}}}' --conns 8 --duration 15
    python -m bench.http_load ... --rate 500 --duration 20        # open loop: 500 requests/s

Closed loop (no --rate): each connection sends its next request as soon as the answer to the
last one arrived, so the figure is the server's capacity. Open loop (--rate R): request i is
due at start + i/R whatever the server does; it waits for a free connection if all are busy,
and its latency counts from its due time, so a slow server shows as latency rather than as a
slower schedule. `{T}` in the body becomes the due time in nanoseconds (the benchmarks measure
enqueue -> completed from it). Prints one JSON line: requests, errors, statuses, requests/s,
latency percentiles (ms) from the due time and from the send, reconnections, and this
process's CPU per request (it runs in a process of its own, so the server's is apart).

It is written against the socket module directly (no asyncio, no HTTP library) because it
shares the machine's cores with what it measures: about a fifth of the CPU per request of the
asyncio version it replaced.
"""

from __future__ import annotations

import argparse
import collections
import json
import resource
import selectors
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


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


@dataclass
class Conn:
    """One keep-alive connection and the request it has in flight, if any."""

    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    due: float = 0.0
    sent: float = 0.0
    request: bytes = b""
    retried: bool = False


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        url = urlsplit(args.url)
        self.address = (url.hostname or "127.0.0.1", url.port or 80)
        self.head = (
            f"POST {url.path or '/'} HTTP/1.1\r\nHost: {self.address[0]}:{self.address[1]}\r\n"
            f"Authorization: Bearer {args.key}\r\nContent-Type: application/json\r\n"
            "Content-Length: "
        ).encode()
        self.body = args.body
        self.selector = selectors.DefaultSelector()
        self.idle: collections.deque[Conn] = collections.deque()
        self.from_due: list[float] = []
        self.from_send: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.reconnects = 0
        for _ in range(args.conns):
            self.idle.append(Conn(self._connect()))
        self.start_mono = time.monotonic()
        self.start_ns = time.time_ns()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        return sock

    def send(self, conn: Conn, due: float) -> None:
        body = self.body.replace("{T}", str(self.start_ns + int((due - self.start_mono) * 1e9)))
        data = body.encode()
        conn.request = self.head + str(len(data)).encode() + b"\r\n\r\n" + data
        conn.due, conn.sent, conn.retried = due, time.monotonic(), False
        conn.buffer.clear()
        self._write(conn)

    def _write(self, conn: Conn) -> None:
        try:
            conn.sock.sendall(conn.request)  # small: fits the socket buffer
        except OSError:
            self._reconnect(conn)
            return
        self.selector.register(conn.sock, selectors.EVENT_READ, conn)

    def _reconnect(self, conn: Conn) -> None:
        """The server closed an idle connection: send the request again on a new one, once."""
        conn.sock.close()
        if conn.retried:
            self.errors += 1
            conn.sock = self._connect()
            self.idle.append(conn)
            return
        self.reconnects += 1
        conn.retried = True
        conn.sock = self._connect()
        conn.buffer.clear()
        self._write(conn)

    def poll(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            conn: Conn = key.data
            try:
                chunk = conn.sock.recv(65_536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.selector.unregister(conn.sock)
                self._reconnect(conn)
                continue
            conn.buffer += chunk
            self._maybe_done(conn)

    def _maybe_done(self, conn: Conn) -> None:
        head_end = conn.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(conn.buffer[:head_end]).lower()
        length = _content_length(head)
        if len(conn.buffer) < head_end + 4 + length:
            return
        now = time.monotonic()
        status = int(head[9:12])
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.from_due.append(now - conn.due)
        self.from_send.append(now - conn.sent)
        self.selector.unregister(conn.sock)
        if b"connection: close" in head:
            conn.sock.close()
            conn.sock = self._connect()
        self.idle.append(conn)

    @property
    def busy(self) -> int:
        return len(self.selector.get_map())


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line[15:])
    return 0


def run(args: argparse.Namespace) -> dict[str, object]:
    load = Load(args)
    start = load.start_mono
    end = start + args.duration
    cpu0 = _cpu()
    if args.rate:
        total = int(args.rate * args.duration)
        backlog: collections.deque[float] = collections.deque()
        i = 0
        while i < total or backlog or load.busy:
            now = time.monotonic()
            while i < total and (due := start + i / args.rate) <= now:
                backlog.append(due)  # due, waiting for a free connection
                i += 1
            while backlog and load.idle:
                load.send(load.idle.popleft(), backlog.popleft())
            wait = start + i / args.rate - time.monotonic() if i < total else 0.05
            load.poll(max(0.0, min(wait, 0.05)))
    else:
        while time.monotonic() < end:
            while load.idle:
                load.send(load.idle.popleft(), time.monotonic())
            load.poll(0.05)
        while load.busy:
            load.poll(0.05)
    elapsed = time.monotonic() - start
    cpu = _cpu() - cpu0
    n = len(load.from_due)
    return {
        "requests": n,
        "errors": load.errors,
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "offered_per_s": args.rate or None,
        "requests_per_s": round(n / elapsed, 1),
        "stale_connection_retries": load.reconnects,
        "latency_ms_from_due": summary(load.from_due),
        "latency_ms_from_send": summary(load.from_send),
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
    print(json.dumps(run(parser.parse_args())))


if __name__ == "__main__":
    main()
