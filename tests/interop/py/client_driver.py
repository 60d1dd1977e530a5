"""Drive a clamator server with a JSON list of call specs read from stdin.

Prints one JSON object per spec, one per line, in input order (see README.md).
All specs share one peer RedisRpcClient (default connection settings but a larger
connection pool, see Driver.__init__), started once
and stopped at the end; `raw` specs use a second connection without a socket timeout
so their XREAD BLOCK may outlast redis-py's 5 s default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from typing import Any

from clamator_over_redis import (
    ClamatorProtocolError,
    ClamatorTransportError,
    RedisRpcClient,
    RpcError,
    command_stream,
    reply_stream,
)
from redis.asyncio import Redis

from arith_contract import ArithClient, arith_contract
from peer_compat import stop_client

Json = Any

# Connections of the peer client's pool: enough for every spec of a --concurrent run.
_POOL_SIZE = 1024


def split_method(full: str) -> tuple[str, str]:
    service, _, method = full.partition(".")
    return service, method


class Driver:
    def __init__(self, *, redis_url: str, key_prefix: str, timeout_ms: int) -> None:
        if "," in redis_url:
            # Redis Cluster seeds: the peer takes a RedisCluster through redis=.
            from redis.asyncio.cluster import RedisCluster

            seed = redis_url.split(",")[0]
            self._raw_redis = RedisCluster.from_url(seed, socket_timeout=None)
            self._client_redis = RedisCluster.from_url(seed)
            self._client = RedisRpcClient(
                redis=self._client_redis, key_prefix=key_prefix, default_timeout_ms=timeout_ms
            )
            self._key_prefix = key_prefix
            self._timeout_ms = timeout_ms
            self._arith = ArithClient(self._client)
            return
        self._raw_redis = Redis.from_url(redis_url, socket_timeout=None)
        self._key_prefix = key_prefix
        self._timeout_ms = timeout_ms
        # redis-py 8 caps a connection pool at 100 connections and the peer's reply loop
        # holds one in XREAD BLOCK, so with the peer's own default client, --concurrent
        # with 100 specs fails the 100th XADD with MaxConnectionsError ("xadd failed").
        # The peer client gets a Redis with a larger pool, default settings otherwise.
        self._client_redis = Redis.from_url(redis_url, max_connections=_POOL_SIZE)
        self._client = RedisRpcClient(
            redis=self._client_redis, key_prefix=key_prefix, default_timeout_ms=timeout_ms
        )
        self._arith = ArithClient(self._client)

    async def start(self) -> None:
        await self._client.start()

    async def stop(self) -> None:
        try:
            await stop_client(self._client)
        finally:
            # The peer closes only a Redis it created itself.
            await self._client_redis.aclose()
            await self._raw_redis.aclose()

    async def run(self, spec: dict[str, Json]) -> dict[str, Json]:
        try:
            return await self._run(spec)
        except RpcError as e:
            return {"error": {"code": e.code, "message": e.message, "data": e.data}}
        except ClamatorTransportError as e:
            return {"transportError": str(e)}
        except ClamatorProtocolError as e:
            return {"protocolError": str(e)}
        except Exception as e:  # noqa: BLE001 - every failure becomes an output line
            return {"otherError": f"{type(e).__name__}: {e}"}

    async def _run(self, spec: dict[str, Json]) -> dict[str, Json]:
        params = spec.get("params", {})
        if "method" in spec:
            service, method = split_method(spec["method"])
            result = await self._client.call(
                service, method, params, timeout_ms=spec.get("timeoutMs")
            )
            return {"ok": result}
        if "notify" in spec:
            service, method = split_method(spec["notify"])
            await self._client.notify(service, method, params)
            return {"ok": None}
        if "typed" in spec:
            return {"ok": await self._typed(spec["typed"], params)}
        if "raw" in spec:
            return await self._raw(spec["raw"], spec.get("timeoutMs", self._timeout_ms))
        if "sleepMs" in spec:
            await asyncio.sleep(spec["sleepMs"] / 1000)
            return {"ok": None}
        raise ValueError(f"unrecognised spec: {json.dumps(spec)}")

    async def _typed(self, method: str, params: Json) -> Json:
        """Call through the codegen-shaped ArithClient proxy, by wire method name."""
        entry = arith_contract.methods[method]
        proxy_method = getattr(self._arith, entry.handler_attr)
        result = await proxy_method(entry.params_model.model_validate(params))
        return None if result is None else result.model_dump(by_alias=True)

    async def _raw(self, envelope: Json, timeout_ms: int) -> dict[str, Json]:
        """XADD an arbitrary envelope and wait for one reply on a private stream."""
        service, _ = split_method(envelope["method"])
        reply_to = reply_stream(self._key_prefix, f"raw-{uuid.uuid4()}")
        try:
            await self._raw_redis.xadd(
                command_stream(self._key_prefix, service),
                {"type": "rpc", "envelope": json.dumps(envelope), "reply-to": reply_to},
            )
            # RESP2 shape: [[stream, [(entry_id, {field: value})]]], or empty on timeout.
            read: Any = await self._raw_redis.xread({reply_to: "0"}, count=1, block=timeout_ms)
        finally:
            await self._raw_redis.delete(reply_to)
        if not read:
            return {"transportError": "call timeout"}
        _stream, entries = read[0]
        _entry_id, fields = entries[0]
        return {"reply": json.loads(fields[b"envelope"])}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://localhost:6379")
    p.add_argument("--key-prefix", required=True)
    p.add_argument("--timeout-ms", type=int, default=30_000)
    p.add_argument(
        "--concurrent", action="store_true", help="run all specs at once (asyncio.gather)"
    )
    return p.parse_args()


def emit(out: dict[str, Json]) -> None:
    print(json.dumps(out), flush=True)


async def drive(args: argparse.Namespace, specs: list[dict[str, Json]]) -> None:
    driver = Driver(
        redis_url=args.redis_url, key_prefix=args.key_prefix, timeout_ms=args.timeout_ms
    )
    await driver.start()
    try:
        if args.concurrent:
            for out in await asyncio.gather(*(driver.run(s) for s in specs)):
                emit(out)
        else:
            for spec in specs:
                emit(await driver.run(spec))
    finally:
        await driver.stop()


def main() -> None:
    args = parse_args()
    specs = json.load(sys.stdin)
    if not isinstance(specs, list):
        sys.exit("stdin must hold a JSON array of call specs")
    asyncio.run(drive(args, specs))


if __name__ == "__main__":
    main()
