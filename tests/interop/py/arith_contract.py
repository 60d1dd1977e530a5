"""The `arith` interop contract, written in the shape @clamator/codegen emits for Python.

Wire field names are the contract's (camelCase); Python attributes are snake_case with
an alias, and every model forbids unknown fields so they are reported as invalid params.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from clamator_protocol import ClamatorClient, Contract, MethodEntry
from pydantic import BaseModel, ConfigDict, Field


class AddParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: float
    b: float


class AddResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sum: float


class SlowAddParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: float
    b: float
    sleep_ms: float = Field(alias="sleepMs")


class SlowAddResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sum: float


class DivideParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: float
    b: float


class DivideResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: float


class EchoTextParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


class EchoTextResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


class PingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PingCountParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PingCountResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int


class FailParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str


class FailResult(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BadResultParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BadResultResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sum: float


class WhoamiParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WhoamiResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    server: str


class ArithClient:
    """Typed proxy over any ClamatorClient (e.g. a started RedisRpcClient)."""

    def __init__(self, client: ClamatorClient) -> None:
        self._client = client

    async def add(self, params: AddParams) -> AddResult:
        raw = await self._client.call("arith", "add", params.model_dump(by_alias=True))
        return AddResult.model_validate(raw)

    async def slow_add(self, params: SlowAddParams) -> SlowAddResult:
        raw = await self._client.call("arith", "slowAdd", params.model_dump(by_alias=True))
        return SlowAddResult.model_validate(raw)

    async def divide(self, params: DivideParams) -> DivideResult:
        raw = await self._client.call("arith", "divide", params.model_dump(by_alias=True))
        return DivideResult.model_validate(raw)

    async def echo_text(self, params: EchoTextParams) -> EchoTextResult:
        raw = await self._client.call("arith", "echoText", params.model_dump(by_alias=True))
        return EchoTextResult.model_validate(raw)

    async def ping(self, params: PingParams) -> None:
        await self._client.notify("arith", "ping", params.model_dump(by_alias=True))

    async def ping_count(self, params: PingCountParams) -> PingCountResult:
        raw = await self._client.call("arith", "pingCount", params.model_dump(by_alias=True))
        return PingCountResult.model_validate(raw)

    async def fail(self, params: FailParams) -> FailResult:
        raw = await self._client.call("arith", "fail", params.model_dump(by_alias=True))
        return FailResult.model_validate(raw)

    async def bad_result(self, params: BadResultParams) -> BadResultResult:
        raw = await self._client.call("arith", "badResult", params.model_dump(by_alias=True))
        return BadResultResult.model_validate(raw)

    async def whoami(self, params: WhoamiParams) -> WhoamiResult:
        raw = await self._client.call("arith", "whoami", params.model_dump(by_alias=True))
        return WhoamiResult.model_validate(raw)


class ArithService(ABC):
    """Server-side base class: implement every method and register with arith_contract."""

    @abstractmethod
    async def add(self, params: AddParams) -> AddResult: ...

    @abstractmethod
    async def slow_add(self, params: SlowAddParams) -> SlowAddResult: ...

    @abstractmethod
    async def divide(self, params: DivideParams) -> DivideResult: ...

    @abstractmethod
    async def echo_text(self, params: EchoTextParams) -> EchoTextResult: ...

    @abstractmethod
    async def ping(self, params: PingParams) -> None: ...

    @abstractmethod
    async def ping_count(self, params: PingCountParams) -> PingCountResult: ...

    @abstractmethod
    async def fail(self, params: FailParams) -> FailResult: ...

    @abstractmethod
    async def bad_result(self, params: BadResultParams) -> BadResultResult: ...

    @abstractmethod
    async def whoami(self, params: WhoamiParams) -> WhoamiResult: ...


METHODS = {
    "add": MethodEntry(params_model=AddParams, result_model=AddResult, handler_attr="add"),
    "slowAdd": MethodEntry(
        params_model=SlowAddParams, result_model=SlowAddResult, handler_attr="slow_add"
    ),
    "divide": MethodEntry(
        params_model=DivideParams, result_model=DivideResult, handler_attr="divide"
    ),
    "echoText": MethodEntry(
        params_model=EchoTextParams, result_model=EchoTextResult, handler_attr="echo_text"
    ),
    "ping": MethodEntry(params_model=PingParams, result_model=None, handler_attr="ping"),
    "pingCount": MethodEntry(
        params_model=PingCountParams, result_model=PingCountResult, handler_attr="ping_count"
    ),
    "fail": MethodEntry(params_model=FailParams, result_model=FailResult, handler_attr="fail"),
    "badResult": MethodEntry(
        params_model=BadResultParams, result_model=BadResultResult, handler_attr="bad_result"
    ),
    "whoami": MethodEntry(
        params_model=WhoamiParams, result_model=WhoamiResult, handler_attr="whoami"
    ),
}

arith_contract = Contract(service="arith", methods=METHODS)
