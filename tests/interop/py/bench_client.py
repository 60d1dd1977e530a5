"""Latency/throughput bench: `arith.add` through the peer's RedisRpcClient.

Runs --warmup calls, then --calls calls with --concurrency worker coroutines, each
pulling the next call index from a shared counter, so at most C calls are in flight.
Prints MEASURING and MEASURED on their own lines around the measured calls (so a
harness can read other processes' CPU time at those points), then one JSON line (see
README.md); failed calls are counted, never fatal, and calls_per_sec counts
successful calls only. cpu_s is this process's utime + stime (/proc/self/stat) spent
during the measured calls (null where /proc is missing).

Connection pool: the client is built the default way (redis_url=...), which gives
redis.asyncio's ConnectionPool. In redis 8.1.0 that pool defaults to
max_connections=100 and raises MaxConnectionsError("Too many connections") instead of
waiting when all are checked out (older redis-py defaulted to 2**31). A call holds a
connection only for its XADD and the reply loop holds one for its XREAD BLOCK 1000, so
the burst of first XADDs fails (ClamatorTransportError "xadd failed") once more than 99
calls start together. Observed: no errors at C=64 or C=99; at C=110 or C=200 most calls
fail, because a failing call fails without yielding and its worker races through the
remaining indices. max_in_flight is the observed maximum, so it then reads 100, not C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter

from clamator_over_redis import RedisRpcClient

from peer_compat import stop_client


class Bench:
    def __init__(self, client: RedisRpcClient) -> None:
        self._client = client
        self.latencies_ns: list[int] = []
        self.errors: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0

    async def _call(self, i: int) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        start = time.perf_counter_ns()
        try:
            await self._client.call("arith", "add", {"a": float(i), "b": 1.0})
        except Exception as e:  # noqa: BLE001 - counted, reported on stderr
            cause = e.__cause__
            detail = f" ({type(cause).__name__}: {cause})" if cause else ""
            self.errors[f"{type(e).__name__}: {e}{detail}"] += 1
        else:
            self.latencies_ns.append(time.perf_counter_ns() - start)
        finally:
            self.in_flight -= 1

    async def run(self, calls: int, concurrency: int) -> float:
        """Make `calls` calls with `concurrency` workers; return elapsed seconds."""
        next_index = 0

        async def worker() -> None:
            nonlocal next_index
            while next_index < calls:
                i = next_index
                next_index += 1
                await self._call(i)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start


def cpu_ticks() -> int | None:
    """utime + stime of this process, in clock ticks (None without /proc)."""
    try:
        with open("/proc/self/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The name (field 2) may hold spaces: fields after the last ')' start at field 3.
    fields = stat[stat.rindex(")") + 1 :].split()
    return int(fields[11]) + int(fields[12])


def percentile_us(sorted_ns: list[int], pct: float) -> float | None:
    """Nearest-rank percentile, in microseconds."""
    if not sorted_ns:
        return None
    rank = max(1, round(pct / 100 * len(sorted_ns)))
    return round(sorted_ns[rank - 1] / 1000, 1)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://localhost:6379")
    p.add_argument("--key-prefix", required=True)
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--timeout-ms", type=int, default=30_000)
    return p.parse_args()


async def bench(args: argparse.Namespace) -> dict[str, object]:
    client = RedisRpcClient(
        redis_url=args.redis_url, key_prefix=args.key_prefix, default_timeout_ms=args.timeout_ms
    )
    await client.start()
    try:
        await Bench(client).run(args.warmup, args.concurrency)
        measured = Bench(client)
        print("MEASURING", flush=True)
        ticks_before = cpu_ticks()
        seconds = await measured.run(args.calls, args.concurrency)
        ticks_after = cpu_ticks()
        print("MEASURED", flush=True)
    finally:
        await stop_client(client)

    for message, count in measured.errors.most_common():
        logging.warning("%d call(s) failed: %s", count, message)
    latencies = sorted(measured.latencies_ns)
    return {
        "calls": args.calls,
        "concurrency": args.concurrency,
        "errors": sum(measured.errors.values()),
        "seconds": round(seconds, 4),
        "calls_per_sec": round(len(latencies) / seconds, 1) if seconds > 0 else None,
        "p50_us": percentile_us(latencies, 50),
        "p99_us": percentile_us(latencies, 99),
        "max_in_flight": measured.max_in_flight,
        "cpu_s": (
            round((ticks_after - ticks_before) / os.sysconf("SC_CLK_TCK"), 3)
            if ticks_before is not None and ticks_after is not None
            else None
        ),
    }


def main() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    print(json.dumps(asyncio.run(bench(parse_args()))), flush=True)


if __name__ == "__main__":
    main()
