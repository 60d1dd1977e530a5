"""Python (peer 0.1.9) server for the `arith` interop contract.

Prints `READY` on stdout once the consumer groups exist and the read loops run;
with --trace-calls also prints `CALL <service>.<method>` each time a handler runs.
SIGINT/SIGTERM stop the server gracefully and the process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import uuid
from typing import cast

from clamator_over_redis import RedisRpcServer, RpcError

from arith_contract import (
    AddParams,
    AddResult,
    ArithService,
    BadResultParams,
    BadResultResult,
    DivideParams,
    DivideResult,
    EchoTextParams,
    EchoTextResult,
    FailParams,
    FailResult,
    PingCountParams,
    PingCountResult,
    PingParams,
    SlowAddParams,
    SlowAddResult,
    WhoamiParams,
    WhoamiResult,
    arith_contract,
)


class Arith(ArithService):
    def __init__(self, *, instance_id: str, trace_calls: bool) -> None:
        self._instance_id = instance_id
        self._trace_calls = trace_calls
        self._pings = 0

    def _trace(self, method: str) -> None:
        if self._trace_calls:
            print(f"CALL {arith_contract.service}.{method}", flush=True)

    async def add(self, params: AddParams) -> AddResult:
        self._trace("add")
        return AddResult(sum=params.a + params.b)

    async def slow_add(self, params: SlowAddParams) -> SlowAddResult:
        self._trace("slowAdd")
        await asyncio.sleep(params.sleep_ms / 1000)
        return SlowAddResult(sum=params.a + params.b)

    async def divide(self, params: DivideParams) -> DivideResult:
        self._trace("divide")
        if params.b == 0:
            raise RpcError(-32000, "division by zero", {"a": params.a})
        return DivideResult(q=params.a / params.b)

    async def echo_text(self, params: EchoTextParams) -> EchoTextResult:
        self._trace("echoText")
        return EchoTextResult(text=params.text)

    async def ping(self, params: PingParams) -> None:
        self._trace("ping")
        self._pings += 1

    async def ping_count(self, params: PingCountParams) -> PingCountResult:
        self._trace("pingCount")
        return PingCountResult(count=self._pings)

    async def fail(self, params: FailParams) -> FailResult:
        self._trace("fail")
        raise RuntimeError(params.message)

    async def bad_result(self, params: BadResultParams) -> BadResultResult:
        self._trace("badResult")
        # A plain dict on purpose: the server validates results, so this must come back
        # as -32603 "Result validation failed" (a model instance would skip validation).
        return cast(BadResultResult, {"sum": "not a number"})

    async def whoami(self, params: WhoamiParams) -> WhoamiResult:
        self._trace("whoami")
        return WhoamiResult(server=f"python:{self._instance_id}")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://localhost:6379")
    p.add_argument("--key-prefix", required=True)
    p.add_argument("--instance-id", default=None, help="default: a random UUID v4")
    p.add_argument("--claim-idle-ms", type=int, default=60_000)
    p.add_argument("--trace-calls", action="store_true")
    p.add_argument(
        "--cluster",
        action="store_true",
        help="Redis Cluster: --redis-url (comma-separated) names seed nodes; the peer gets a "
        "redis.asyncio.cluster.RedisCluster",
    )
    p.add_argument(
        "--max-concurrency",
        type=int,
        default=None,
        help="accepted for CLI parity with the Rust server and ignored (the peer is serial)",
    )
    return p.parse_args()


async def serve(args: argparse.Namespace) -> None:
    instance_id = args.instance_id or str(uuid.uuid4())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    connection: dict[str, object] = {"redis_url": args.redis_url}
    if args.cluster or "," in args.redis_url:
        from redis.asyncio.cluster import RedisCluster

        connection = {"redis": RedisCluster.from_url(args.redis_url.split(",")[0])}
    server = RedisRpcServer(
        **connection,  # type: ignore[arg-type]
        key_prefix=args.key_prefix,
        instance_id=instance_id,
        consumer_claim_idle_ms=args.claim_idle_ms,
    )
    server.register_service(
        arith_contract, Arith(instance_id=instance_id, trace_calls=args.trace_calls)
    )
    await server.start()
    logging.info("arith server %s started on prefix %r", instance_id, args.key_prefix)
    print("READY", flush=True)

    await stop.wait()
    logging.info("arith server %s stopping", instance_id)
    await server.stop()


def main() -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(serve(parse_args()))


if __name__ == "__main__":
    main()
