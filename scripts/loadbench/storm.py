"""A sign-in storm: `n` clients arrive at once, each on its own connection, each doing one
sign-in (a password login or a SAML ACS post, mixed), and each honouring the broker's 503
`Retry-After` (the password pool is full) the way a browser user would by trying again. Counts
the sign-ins that never succeed (errors), the time each took from arrival to success (p50/p99,
retries included), the broker's CPU and its peak RSS."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from . import HOST
from .broker import cpu_seconds, memory_kib
from .http_load import read_response


@dataclass
class StormResult:
    clients: int = 0
    succeeded: int = 0
    statuses: Counter = field(default_factory=Counter)
    retries: int = 0
    durations: list = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0
    peak_rss_mib: float = 0.0

    def pct(self, p: float) -> float:
        if not self.durations:
            return float("nan")
        xs = sorted(self.durations)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


async def _storm(port: int, pid: int, requests: list[tuple[bytes, int]], give_up: float) -> StormResult:
    result = StormResult(clients=len(requests))
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    peak = [memory_kib(pid)["VmRSS"]]

    async def watch_memory():
        while True:
            peak[0] = max(peak[0], memory_kib(pid)["VmRSS"])
            await asyncio.sleep(0.05)

    async def client(req: bytes, want: int):
        start = time.perf_counter()
        while time.perf_counter() - start < give_up:
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
                writer.write(req)
                status, _, _ = await read_response(reader)
                writer.close()
            except (ConnectionError, asyncio.IncompleteReadError) as e:
                result.statuses[type(e).__name__] += 1
                return
            result.statuses[status] += 1
            if status == want:
                result.succeeded += 1
                result.durations.append(time.perf_counter() - start)
                return
            if status != 503:
                return
            result.retries += 1
            # Retry-After: 2 from the broker; spread out like people pressing the button again.
            await asyncio.sleep(random.uniform(1.5, 2.5))

    watcher = asyncio.create_task(watch_memory())
    await asyncio.gather(*(client(r, w) for r, w in requests))
    watcher.cancel()
    result.wall = time.perf_counter() - t0
    result.cpu = cpu_seconds(pid) - cpu0
    result.peak_rss_mib = max(peak[0], memory_kib(pid)["VmRSS"]) / 1024
    return result


def storm(port: int, pid: int, requests: list[tuple[bytes, int]], give_up: float = 120.0) -> StormResult:
    """Runs the storm: `requests` are (request bytes, the status that means success)."""
    return asyncio.run(_storm(port, pid, requests, give_up))
