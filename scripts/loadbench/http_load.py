"""A small HTTP/1.1 client: synchronous with a cookie jar for the setup, and asyncio keep-alive
connections for the measured rows, each bounded in time (or by the requests it was given)."""

from __future__ import annotations

import asyncio
import http.client
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

from . import HOST
from .broker import cpu_seconds, memory_kib


class Jar(dict):
    def take(self, headers: list[tuple[str, str]]) -> None:
        for name, value in headers:
            if name.lower() != "set-cookie":
                continue
            pair, _, attrs = value.partition(";")
            k, _, v = pair.strip().partition("=")
            if not v or "max-age=0" in attrs.lower().replace(" ", ""):
                self.pop(k, None)
            else:
                self[k] = v

    def header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.items())


def request(port, method, path, body=None, headers=None, jar: Jar | None = None):
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = dict(headers or {})
    if jar:
        headers["Cookie"] = jar.header()
    if isinstance(body, dict):
        body = urllib.parse.urlencode(body)
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    conn.request(method, path, body=body, headers=headers)
    res = conn.getresponse()
    data = res.read()
    items = res.getheaders()
    if jar is not None:
        jar.take(items)
    conn.close()
    return res.status, dict((k.lower(), v) for k, v in items), data


def build_request(method: str, path: str, headers: dict, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k, v = k.strip().lower(), v.strip().lower()
        if k == "content-length":
            length = int(v)
        elif k == "transfer-encoding" and "chunked" in v:
            chunked = True
        elif k == "connection" and v == "close":
            close = True
    if chunked:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            body += chunk[:-2]
            if size == 0:
                break
    else:
        body = await reader.readexactly(length) if length else b""
    return status, close, body


@dataclass
class RowResult:
    ok: int = 0
    statuses: Counter = field(default_factory=Counter)
    latencies: list = field(default_factory=list)
    cpu: float = 0.0
    wall: float = 0.0
    rss_mib: float = 0.0

    def per_cpu_second(self) -> float:
        return self.ok / self.cpu if self.cpu > 0 else float("nan")

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000


async def load(port: int, pid: int, next_request, expect: set[int], seconds: float,
               connections: int, on_response=None) -> RowResult:
    """`connections` keep-alive connections send `next_request(i)` (i: the connection's index)
    until the deadline or until it returns None; counts responses with a status in `expect`.
    `on_response(i, status, body)`, when given, sees every answer (a refresh rotation takes
    its next token from it)."""
    result = RowResult()
    conns = [await asyncio.open_connection(HOST, port) for _ in range(connections)]
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    deadline = t0 + seconds

    async def worker(i, reader, writer):
        while time.perf_counter() < deadline:
            req = next_request(i)
            if req is None:
                break
            start = time.perf_counter()
            writer.write(req)
            status, close, body = await read_response(reader)
            elapsed = time.perf_counter() - start
            if on_response:
                on_response(i, status, body)
            result.statuses[status] += 1
            if status in expect:
                result.ok += 1
                result.latencies.append(elapsed)
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(HOST, port)
        writer.close()

    await asyncio.gather(*(worker(i, r, w) for i, (r, w) in enumerate(conns)))
    result.wall = time.perf_counter() - t0
    result.cpu = cpu_seconds(pid) - cpu0
    result.rss_mib = memory_kib(pid)["VmRSS"] / 1024
    return result


def cycle(items: list[bytes]):
    """The same requests over and over, shared by every connection."""
    i = 0

    def nxt(_conn: int) -> bytes:
        nonlocal i
        i += 1
        return items[i % len(items)]
    return nxt


def once_each(items: list[bytes]):
    """Each request once, then the row ends."""
    it = iter(items)
    return lambda _conn: next(it, None)


def per_connection(items: list[bytes]):
    """Connection i always sends items[i]."""
    return lambda conn: items[conn % len(items)]
