"""Work-around for a shutdown hang in the peer's RedisRpcClient (0.1.9 on Python 3.11)."""

from __future__ import annotations

import asyncio

from clamator_over_redis import RedisRpcClient

# How long the reply loop needs to get from "reply handled" to "parked in XREAD BLOCK".
_SETTLE_S = 0.05
# Upper bound on stop(); reached only if the lost-cancellation race below is hit anyway.
_STOP_TIMEOUT_S = 3.0


async def stop_client(client: RedisRpcClient) -> None:
    """Stop a started peer client without hanging.

    The peer's reply loop is `while True: XREAD BLOCK 1000 ...` and ends only when cancelled.
    redis-py 8 applies a default 5 s socket_timeout, so each command send goes through
    asyncio.wait_for, and on Python 3.11 wait_for drops a cancellation that arrives while the
    send completes (fixed in 3.12). stop() right after the last reply lands exactly there,
    and then never returns. Waiting a moment first lets the loop park in its blocking read,
    where cancellation works. If the race still hits, the wait_for timeout cancels the
    reply loop a second time; stop() absorbs that and still fails pending calls and
    deletes the reply stream.
    """
    await asyncio.sleep(_SETTLE_S)
    await asyncio.wait_for(client.stop(), timeout=_STOP_TIMEOUT_S)
