"""The Python peer 0.1.9 driving modules that clamator-rs generated
(`clamator codegen python`), for tests/contracts.rs.

    generated_peer.py --module-dir DIR validate < table.json
        stdin: a JSON list of {"module", "model", "payload"}; stdout: a JSON
        list of booleans (whether model_validate accepted each payload).
    generated_peer.py --module-dir DIR --redis-url URL --key-prefix P serve-inventory|serve-arith
        serves the contract with the generated {Service}Service; prints READY;
        stops when stdin closes.
    generated_peer.py --module-dir DIR --redis-url URL --key-prefix P call-inventory|call-arith
        calls a server with the generated {Service}Client and prints one JSON
        line {"step", "result"} per step, then exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from typing import Any

from clamator_over_redis import RedisRpcClient, RedisRpcServer, RpcError
from peer_compat import stop_client

STEP_TIMEOUT_MS = 10_000


def emit(step: str, result: Any) -> None:
    print(json.dumps({"step": step, "result": result}, sort_keys=True), flush=True)


def validate(module_dir: str) -> None:
    sys.path.insert(0, module_dir)
    table = json.load(sys.stdin)
    out = []
    for row in table:
        model = getattr(importlib.import_module(row["module"]), row["model"])
        try:
            model.model_validate(row["payload"])
            out.append(True)
        except Exception:  # noqa: BLE001 - any rejection counts
            out.append(False)
    json.dump(out, sys.stdout)


def inventory_service(m: Any) -> Any:
    class Inventory(m.InventoryService):
        def __init__(self) -> None:
            self.restocked_total = 0

        async def add_item(self, params: Any) -> Any:
            return m.AddItemResult(id=f"{params.sku}-{params.priority}", total=params.quantity + params.stock)

        async def get_item(self, params: Any) -> Any:
            if params.id == "count":
                item = m.GetItemResultTrueItem(quantity=self.restocked_total, sku="count")
                return m.GetItemResult(root=m.GetItemResultTrue(ok=True, item=item))
            if params.id == "a":
                item = m.GetItemResultTrueItem(quantity=2, sku="a")
                return m.GetItemResult(root=m.GetItemResultTrue(ok=True, item=item))
            return m.GetItemResult(root=m.GetItemResultFalse(ok=False, reason="not-found"))

        async def move(self, params: Any) -> Any:
            return m.MoveResult(moved=isinstance(params.to.root, m.MoveParamsToTruck))

        async def restocked(self, params: Any) -> None:
            self.restocked_total += params.quantity

    return Inventory()


def arith_service(m: Any) -> Any:
    class Arith(m.ArithService):
        def __init__(self) -> None:
            self.pings = 0

        async def add(self, params: Any) -> Any:
            return m.AddResult(sum=params.a + params.b)

        async def slow_add(self, params: Any) -> Any:
            await asyncio.sleep(params.sleep_ms / 1000)
            return m.SlowAddResult(sum=params.a + params.b)

        async def divide(self, params: Any) -> Any:
            if params.b == 0:
                raise RpcError(-32000, "division by zero", {"a": params.a})
            return m.DivideResult(q=params.a / params.b)

        async def echo_text(self, params: Any) -> Any:
            return m.EchoTextResult(text=params.text)

        async def ping(self, params: Any) -> None:
            self.pings += 1

        async def ping_count(self, params: Any) -> Any:
            return m.PingCountResult(count=self.pings)

        async def fail(self, params: Any) -> Any:
            raise RuntimeError(params.message)

        async def bad_result(self, params: Any) -> Any:
            return m.BadResultResult(sum=1.0)

        async def whoami(self, params: Any) -> Any:
            return m.WhoamiResult(server="python-generated")

    return Arith()


async def serve(args: argparse.Namespace, which: str) -> None:
    sys.path.insert(0, args.module_dir)
    m = importlib.import_module(which)
    server = RedisRpcServer(redis_url=args.redis_url, key_prefix=args.key_prefix)
    if which == "inventory":
        server.register_service(m.inventory_contract, inventory_service(m))
    else:
        server.register_service(m.arith_contract, arith_service(m))
    await server.start()
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop()


async def poll(step: Any, want: Any, limit_s: float = 10.0) -> Any:
    """Calls step() until it returns want or limit_s passes; returns the last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    got = await step()
    while got != want and loop.time() < deadline:
        await asyncio.sleep(0.05)
        got = await step()
    return got


async def raw(client: Any, service: str, method: str, params: Any) -> Any:
    try:
        return {"ok": await client.call(service, method, params, timeout_ms=STEP_TIMEOUT_MS)}
    except RpcError as e:
        return {"code": e.code}


async def call_inventory(m: Any, client: Any) -> None:
    inv = m.InventoryClient(client)
    params = m.AddItemParams(
        sku="s1", quantity=2, stock=3, price=1.5, fragile=False, supplier=None, color="red",
        tags=["x"], attributes={"w": 1.0}, dimensions=m.AddItemParamsDimensions(widthMm=1, heightMm=2.5),
    )
    emit("addItem", (await inv.add_item(params, timeout_ms=STEP_TIMEOUT_MS)).model_dump(mode="json", by_alias=True))
    for item_id in ["a", "b"]:
        got = await inv.get_item(m.GetItemParams(id=item_id), timeout_ms=STEP_TIMEOUT_MS)
        emit(f"getItem {item_id}", got.model_dump(mode="json", by_alias=True))
    to = m.MoveParamsTo(root=m.MoveParamsToTruck(kind="truck", plate="X", eta=None))
    emit("move", (await inv.move(m.MoveParams(id="a", to=to), timeout_ms=STEP_TIMEOUT_MS)).model_dump(mode="json"))
    await inv.restocked(m.RestockedParams(sku="s", quantity=5))

    async def count() -> int:
        got = await inv.get_item(m.GetItemParams(id="count"), timeout_ms=STEP_TIMEOUT_MS)
        return got.root.item.quantity

    emit("restocked", await poll(count, 5))
    base = params.model_dump(mode="json", by_alias=True, exclude_unset=True)
    emit("integral float", await raw(client, "inventory", "addItem", {**base, "quantity": 10.0}))
    emit("fractional", await raw(client, "inventory", "addItem", {**base, "quantity": 1.5}))
    emit("unknown field", await raw(client, "inventory", "addItem", {**base, "zzz": 1}))


async def call_arith(m: Any, client: Any) -> None:
    arith = m.ArithClient(client)
    emit("add", (await arith.add(m.AddParams(a=2, b=3.5), timeout_ms=STEP_TIMEOUT_MS)).model_dump(mode="json"))
    emit("echoText", (await arith.echo_text(m.EchoTextParams(text="hé"), timeout_ms=STEP_TIMEOUT_MS)).model_dump(mode="json"))
    try:
        await arith.divide(m.DivideParams(a=1, b=0), timeout_ms=STEP_TIMEOUT_MS)
        emit("divide", "no error")
    except RpcError as e:
        emit("divide", {"code": e.code, "message": e.message})
    await arith.ping(m.PingParams())

    async def count() -> int:
        return (await arith.ping_count(m.PingCountParams(), timeout_ms=STEP_TIMEOUT_MS)).count

    emit("ping", await poll(count, 1))


async def call(args: argparse.Namespace, which: str) -> None:
    sys.path.insert(0, args.module_dir)
    m = importlib.import_module(which)
    client = RedisRpcClient(redis_url=args.redis_url, key_prefix=args.key_prefix)
    await client.start()
    try:
        await (call_inventory(m, client) if which == "inventory" else call_arith(m, client))
    finally:
        await stop_client(client)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--module-dir", required=True)
    p.add_argument("--redis-url")
    p.add_argument("--key-prefix")
    p.add_argument("mode", choices=["validate", "serve-inventory", "serve-arith", "call-inventory", "call-arith"])
    args = p.parse_args()
    if args.mode == "validate":
        validate(args.module_dir)
        return
    action, which = args.mode.split("-", 1)
    asyncio.run((serve if action == "serve" else call)(args, which))


if __name__ == "__main__":
    main()
