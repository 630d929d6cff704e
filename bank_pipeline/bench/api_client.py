"""The load generator of `bank-pipeline bench api`: a process of its own that sends GET requests to the API on an
open-loop schedule and times each from the moment it was due.

Request i is due at start + i / rate whatever happened to the ones before (open loop): a slow answer does not
delay the next request, so queueing in the client, the server or the database counts in the latency (no
coordinated omission). Two times per request:
  latency  done − due: what a caller arriving at that moment would have waited;
  service  done − sent: from writing the request on a free keep-alive connection to the last byte of the answer.
The difference is the wait for the schedule's tick (the event loop's timers have 1 ms resolution) and for a free
connection of the pool.

Two HTTP clients, both with a fixed pool of keep-alive connections opened before the clock starts: `raw`, HTTP/1.1
over asyncio streams (uvloop) with every request's bytes built beforehand, and `httpx`'s AsyncClient. Against a
canned-answer server on the 2-core VM this was written on, raw held 1,000 requests/s at 0.25 ms of CPU a request
(a quarter of a core; p99 lateness under 1 ms), while httpx took a whole core and still fell behind at 400/s: raw
is the default, httpx is there to compare.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

BALANCE, HISTORY = 0, 1
ENDPOINTS = {BALANCE: "balance", HISTORY: "transactions"}
FAILED = -1  # status of a request that got no HTTP answer (connection error, timeout)
ANSWER_TIMEOUT = 30.0  # seconds after the last request was due: later answers count as failed


@dataclass(frozen=True)
class LoadPlan:
    """Everything the load generator needs; built by the parent, pickled to the spawned process."""

    host: str
    port: int
    rate: float  # requests a second
    warmup_seconds: float
    seconds: float  # measured, after the warm-up
    connections: int
    client: str  # "raw" or "httpx"
    kinds: np.ndarray  # int8 per request: BALANCE or HISTORY
    paths: list[str]  # per request
    owners: np.ndarray  # int32 per request: index into customers
    customers: list[str]  # customer ids, each gets one token
    signing_key: str
    token_ttl_seconds: int

    @property
    def measured_from(self) -> int:
        """The first request of the measured phase."""
        return round(self.rate * self.warmup_seconds)


@dataclass
class LoadResult:
    """Per request of the whole plan (warm-up included); times in seconds from the schedule's start."""

    client: str
    due: np.ndarray
    sent: np.ndarray  # NaN: never sent (the run ended first)
    done: np.ndarray  # NaN: no answer
    status: np.ndarray  # int16: HTTP status, FAILED
    balances: dict[int, int] = field(default_factory=dict)  # request index -> ledger balance it answered
    history_sizes: dict[int, int] = field(default_factory=dict)  # request index -> entries on the page
    errors: dict[str, int] = field(default_factory=dict)  # what failed requests raised, by kind
    sample_error_body: str = ""  # the first non-200 answer, to say why
    started_at: float = 0.0  # the schedule's start, time.perf_counter (CLOCK_MONOTONIC: the same in every process)


# -- the process --------------------------------------------------------------------------------------------


def run_load(plan: LoadPlan, messages: Any) -> None:
    """The spawned process's target: mint the tokens, open the connections, say "ready", run the schedule
    (saying "measuring" when the measured phase starts and "window-ended" when its last request is answered),
    then put the result."""
    try:
        import uvloop

        result = uvloop.run(_run(plan, messages))
        messages.put(("result", result))
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which fails the benchmark
        messages.put(("failed", f"load generator: {type(error).__name__}: {error}"))


async def _run(plan: LoadPlan, messages: Any) -> LoadResult:
    from bank_pipeline.api.identity import Identity
    from bank_pipeline.api.tokens import mint_token

    tokens = [
        mint_token(Identity(customer, "customer", customer), key=plan.signing_key, ttl_seconds=plan.token_ttl_seconds)
        for customer in plan.customers
    ]
    exchange, close = await (_raw_client if plan.client == "raw" else _httpx_client)(plan, tokens)
    try:
        return await _drive(plan, exchange, messages)
    finally:
        await close()


#: Sends request i once a connection is free; returns (status, body, the perf_counter when it was sent).
Exchange = Callable[[int], Awaitable[tuple[int, bytes, float]]]


async def _drive(plan: LoadPlan, exchange: Exchange, messages: Any) -> LoadResult:
    count = len(plan.kinds)
    result = LoadResult(
        plan.client,
        due=np.arange(count) / plan.rate,
        sent=np.full(count, np.nan),
        done=np.full(count, np.nan),
        status=np.zeros(count, dtype=np.int16),
    )
    measured_from = plan.measured_from
    measured = asyncio.get_running_loop().create_future()
    remaining = [count - measured_from]

    async def one(index: int) -> None:
        try:
            status, body, sent = await exchange(index)
            result.done[index] = clock() - started
            result.sent[index] = sent - started
            result.status[index] = status
            _check_answer(result, plan, index, status, body)
        except Exception as error:  # noqa: BLE001 - a failed request is a figure, not the end of the run
            result.status[index] = FAILED
            name = type(error).__name__
            result.errors[name] = result.errors.get(name, 0) + 1
        if index >= measured_from:
            remaining[0] -= 1
            if remaining[0] == 0:
                measured.set_result(None)

    clock = time.perf_counter
    messages.put(("ready", None))
    started = result.started_at = clock() + 0.05
    tasks: set[asyncio.Task] = set()
    index = 0
    while index < count:
        now = clock() - started
        while index < count and result.due[index] <= now:
            if index == measured_from:
                messages.put(("measuring", None))
            task = asyncio.create_task(one(index))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            index += 1
        if index < count:
            await asyncio.sleep(max(0.0, result.due[index] - (clock() - started)))
    try:
        await asyncio.wait_for(asyncio.shield(measured), ANSWER_TIMEOUT)
    except TimeoutError:
        pass
    messages.put(("window-ended", None))
    for task in tasks:
        task.cancel()
    return result


def _check_answer(result: LoadResult, plan: LoadPlan, index: int, status: int, body: bytes) -> None:
    """Keep what the answer says, for the parent to compare with the database: a balance, a page's size."""
    if status != 200:
        if not result.sample_error_body:
            result.sample_error_body = f"{status} {plan.paths[index]}: {body[:300].decode(errors='replace')}"
        return
    answer = orjson.loads(body)
    if plan.kinds[index] == BALANCE:
        result.balances[index] = ledger_balance_of(answer)
    else:
        result.history_sizes[index] = len(history_entries_of(answer))


def ledger_balance_of(answer: dict) -> int:
    return int(answer["ledger_balance"])


def history_entries_of(answer: dict) -> list:
    return answer["entries"]


# -- the raw HTTP/1.1 client ----------------------------------------------------------------------------------


class RawConnection:
    """One keep-alive HTTP/1.1 connection: write a request, read one answer (Content-Length or chunked)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send `request` and read its answer. A kept-alive connection the server closed meanwhile (uvicorn closes
        those idle for 5 s) is replaced, and a GET it failed on before any byte of the answer is sent once more on
        a fresh one, as HTTP clients do for idempotent requests."""
        if self.writer is None or self.reader.at_eof():
            await self.close()
            await self.open()
            return await self._exchange(request)
        try:
            return await self._exchange(request)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            if isinstance(error, asyncio.IncompleteReadError) and error.partial:
                raise
            await self.open()
            return await self._exchange(request)

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        try:
            self.writer.write(request)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            headers = head.lower()
            if b"\r\ntransfer-encoding: chunked" in headers:
                body = await self._read_chunked()
            else:
                body = await self.reader.readexactly(_content_length(headers))
            if b"\r\nconnection: close" in headers:
                await self.close()
            return status, body
        except BaseException:
            await self.close()  # the next request opens a fresh one
            raise

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await self.reader.readexactly(size + 2))
            if size == 0:
                return b"".join(part[:-2] for part in parts)

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass


def _content_length(headers: bytes) -> int:
    start = headers.find(b"\r\ncontent-length:")
    if start < 0:
        return 0
    end = headers.find(b"\r\n", start + 2)
    return int(headers[start + 17 : end])


async def _raw_client(plan: LoadPlan, tokens: list[str]) -> tuple[Exchange, Callable[[], Awaitable[None]]]:
    host_header = f"{plan.host}:{plan.port}"
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nAuthorization: Bearer {tokens[owner]}\r\n"
        f"Accept: application/json\r\n\r\n".encode()
        for path, owner in zip(plan.paths, plan.owners.tolist(), strict=True)
    ]
    connections = [RawConnection(plan.host, plan.port) for _ in range(plan.connections)]
    await asyncio.gather(*(connection.open() for connection in connections))
    free: asyncio.Queue[RawConnection] = asyncio.Queue()  # round robin: no connection idles long enough to be closed
    for connection in connections:
        free.put_nowait(connection)

    async def exchange(index: int) -> tuple[int, bytes, float]:
        connection = await free.get()
        try:
            sent = time.perf_counter()
            return (*await connection.exchange(requests[index]), sent)
        finally:
            free.put_nowait(connection)

    async def close() -> None:
        await asyncio.gather(*(connection.close() for connection in connections))

    return exchange, close


# -- the httpx client ---------------------------------------------------------------------------------------


async def _httpx_client(plan: LoadPlan, tokens: list[str]) -> tuple[Exchange, Callable[[], Awaitable[None]]]:
    import httpx

    limits = httpx.Limits(max_connections=plan.connections, max_keepalive_connections=plan.connections)
    client = httpx.AsyncClient(base_url=f"http://{plan.host}:{plan.port}", limits=limits, timeout=ANSWER_TIMEOUT)
    headers = [{"Authorization": f"Bearer {token}", "Accept": "application/json"} for token in tokens]
    # Open the pool's connections before the clock starts, as the raw client does.
    await asyncio.gather(*(client.get("/healthz") for _ in range(plan.connections)))
    owners = plan.owners.tolist()
    free = asyncio.Semaphore(plan.connections)  # so the time waiting for a connection is not service time

    async def exchange(index: int) -> tuple[int, bytes, float]:
        async with free:
            sent = time.perf_counter()
            response = await client.get(plan.paths[index], headers=headers[owners[index]])
        return response.status_code, response.content, sent

    return exchange, client.aclose
