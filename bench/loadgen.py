"""Open-loop HTTP load on loopback: a fixed request rate, bounded in count and time.

Open loop (requests start on schedule whether or not earlier ones returned) so that a
slow server shows up as latency instead of silently lowering the offered rate.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import httpx


@dataclass
class LoadResult:
    offered_rps: float
    achieved_rps: float
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    def row(self, label: str) -> str:
        return (
            f"| {label} | {self.offered_rps:.0f} | {self.achieved_rps:.0f} | {self.requests} | "
            f"{self.errors} | {self.p50_ms:.1f} | {self.p95_ms:.1f} | {self.p99_ms:.1f} |"
        )


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))
    return sorted_values[idx]


async def _run(
    url: str, headers: dict[str, str], rate: float, total: int, max_seconds: float
) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=10.0) as client:

        async def one() -> None:
            nonlocal errors
            t0 = time.perf_counter()
            try:
                r = await client.get(url)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - t0) * 1000)
            if not ok:
                errors += 1

        start = time.perf_counter()
        tasks = []
        for i in range(total):
            due = start + i / rate
            now = time.perf_counter()
            if now - start > max_seconds:
                break
            if due > now:
                await asyncio.sleep(due - now)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    lat = sorted(latencies)
    return LoadResult(
        offered_rps=rate,
        achieved_rps=len(lat) / elapsed,
        requests=len(lat),
        errors=errors,
        p50_ms=statistics.median(lat),
        p95_ms=_quantile(lat, 0.95),
        p99_ms=_quantile(lat, 0.99),
        max_ms=lat[-1],
    )


def run_load(
    url: str, headers: dict[str, str], *, rate: float, total: int, max_seconds: float = 60
) -> LoadResult:
    """Send ``total`` GETs at ``rate`` per second (stopping after ``max_seconds``)."""
    return asyncio.run(_run(url, headers, rate, total, max_seconds))
