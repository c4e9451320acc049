"""The console's API client: the only place that knows the backend's URLs.

Every call is recorded (method, path, status, latency, SQL statements from Server-Timing) in a
bounded log for the request-log screen; problem+json answers become a typed ApiError; creates carry
an Idempotency-Key and are retried with it when no answer came (or a 503 did), so a write whose
outcome was lost is learned, never made twice; in read-only mode writes are refused before they
leave. Reads carry the newest commit LSN its writes were answered with, so a backend reading
from a standby shows the console what it has just saved.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

if TYPE_CHECKING:
    from types import ModuleType

    import httpx
    import httpx_sse

    from stackdeck.tui.xray_records import RequestTrace, StatementPlan, TransactionDetail


def _lazy(name: str) -> ModuleType:
    """`name`, run on its first attribute access (importlib's LazyLoader)."""
    if (module := sys.modules.get(name)) is not None:
        return module
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, name
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


if not TYPE_CHECKING:
    # httpx is a tenth of the console's imports and its first frame makes no request: it
    # loads while the backend starts (ApiClient.prepare) or with the first request.
    httpx = _lazy("httpx")
    httpx_sse = _lazy("httpx_sse")

_SERVER_TIMING = re.compile(r'dur=([\d.]+)(?:;desc="(\d+) statements")?')
_WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
SCHEMA_NOT_READY = "Database schema not ready"
API_PREFIX = "/api/v1"
COMMIT_LSN = "x-stackdeck-commit-lsn"
MIN_LSN = "X-Stackdeck-Min-LSN"
_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


def _lsn_position(text: str) -> int | None:
    """A WAL position ("16/B374D848") as a number, to keep the newest; None if malformed."""
    match = _LSN.match(text)
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16) if match else None


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str

    @property
    def name(self) -> str:
        """The field's own name: "body.email" -> "email"."""
        return self.field.rsplit(".", 1)[-1]


class ApiError(Exception):
    """An answer other than 2xx, or no answer at all (status 0)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        errors: list[FieldError] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.retry_after = retry_after
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.title}: {self.detail}" if self.detail else self.title

    @property
    def schema_not_ready(self) -> bool:
        return self.status == 503 and self.title == SCHEMA_NOT_READY

    @property
    def unreachable(self) -> bool:
        return self.status == 0

    def field_errors(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for error in self.errors:
            found.setdefault(error.name, error.message)
        return found


class BackendUnreachable(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__(0, "Backend unreachable", detail)


def _outcome_unknown_or_unwritten(exc: BaseException) -> bool:
    """Worth sending again with the same key: no answer (the write may or may not have
    happened; a replay tells), or a 503 (the database was away, nothing was written)."""
    if not isinstance(exc, ApiError):
        return False
    return exc.unreachable or (exc.status == 503 and not exc.schema_not_ready)


class ReadOnlyError(ApiError):
    def __init__(self, method: str, path: str) -> None:
        super().__init__(0, "Read-only", f"{method} {path} refused: the console is read-only")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    at: datetime
    method: str
    path: str
    status: int  # 0: no answer
    latency_ms: float
    statements: int | None = None
    db_ms: float | None = None
    request_id: str | None = None
    error: str | None = None


@dataclass(slots=True)
class StreamEvent:
    id: str
    event: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class User:
    """A user as the list gives it (timestamps as the API writes them, ISO 8601)."""

    id: int
    name: str
    email: str
    post_count: int
    created_at: str
    updated_at: str

    FIELDS: ClassVar[tuple[str, ...]] = (
        "id",
        "name",
        "email",
        "post_count",
        "created_at",
        "updated_at",
    )

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> User:
        return cls(
            int(data["id"]),
            str(data["name"]),
            str(data["email"]),
            int(data.get("post_count") or 0),
            str(data.get("created_at") or ""),
            str(data.get("updated_at") or ""),
        )


@dataclass(frozen=True, slots=True)
class UserPage:
    items: list[User]
    # The cursors of the pages after and before (in the order asked for); None: the list
    # ends on that side.
    next: str | None
    prev: str | None = None


# The filters GET /users, /users/count and /users/export take beside `q`.
USER_FILTERS = ("name", "email", "created_from", "created_to", "posts_min", "posts_max")


@dataclass(frozen=True, slots=True)
class UserView:
    """Which users, in which order: what a page, a count and an export all ask for."""

    sort: str = "id"  # a column of User
    descending: bool = False
    q: str = ""
    filters: dict[str, str] = field(default_factory=dict)  # of USER_FILTERS, non-empty values

    def params(self, *, reverse: bool = False) -> dict[str, str]:
        descending = self.descending != reverse
        return {"sort": ("-" if descending else "") + self.sort, **self.filter_params()}

    def filter_params(self) -> dict[str, str]:
        return {"q": self.q, **self.filters}


RequestListener = Callable[[RequestRecord], None]


def _server_timing(header: str | None) -> tuple[float | None, int | None]:
    if not header:
        return None, None
    match = _SERVER_TIMING.search(header)
    if not match:
        return None, None
    statements = int(match.group(2)) if match.group(2) is not None else None
    return float(match.group(1)), statements


def _problem(response: httpx.Response) -> ApiError:
    retry = response.headers.get("retry-after")
    retry_after = float(retry) if retry and retry.replace(".", "", 1).isdigit() else None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return ApiError(response.status_code, response.reason_phrase or "HTTP error", None, None)
    errors = [
        FieldError(str(e.get("field", "")), str(e.get("message", "")))
        for e in body.get("errors") or []
        if isinstance(e, dict)
    ]
    return ApiError(
        int(body.get("status") or response.status_code),
        str(body.get("title") or response.reason_phrase or "HTTP error"),
        body.get("detail"),
        errors,
        retry_after,
    )


def api_base(url: str) -> str:
    """Accept http://host:port or http://host:port/api/v1; return the latter."""
    url = url.rstrip("/")
    return url if url.endswith(API_PREFIX) else url + API_PREFIX


@dataclass
class ApiClient:
    """An httpx.AsyncClient for one backend; `base_url` ends in /api/v1."""

    base_url: str
    token: str | None = None
    read_only: bool = False
    transport: httpx.AsyncBaseTransport | None = None
    timeout: float = 15.0
    write_attempts: int = 3  # a POST is sent at most this often, always with the same key
    log_size: int = 500
    log: deque[RequestRecord] = field(init=False)
    listeners: list[RequestListener] = field(default_factory=list, init=False)
    writes_in_flight: int = field(default=0, init=False)
    # The newest X-Stackdeck-Commit-LSN a write of ours was answered with (text, number).
    last_commit_lsn: tuple[str, int] | None = field(default=None, init=False)
    _http: httpx.AsyncClient | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.log = deque(maxlen=self.log_size)

    @property
    def http(self) -> httpx.AsyncClient:
        # Made on first use, so it belongs to the loop that runs the console.
        if self._http is None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                transport=self.transport,
                timeout=httpx.Timeout(self.timeout, connect=3.0),
                headers=headers,
                # Plain HTTP never does TLS (redirects are not followed), so the CA bundle
                # need not be loaded: ~35 ms on the way to the console's first page.
                verify=not self.base_url.startswith("http://"),
            )
        return self._http

    def prepare(self) -> None:
        """Load httpx and make the client now, ahead of the first request."""
        self.http  # noqa: B018

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- the one request path -------------------------------------------------------------------

    def _record(self, record: RequestRecord) -> None:
        self.log.append(record)
        for listener in list(self.listeners):
            listener(record)

    def _remember_commit(self, lsn: str | None) -> None:
        position = _lsn_position(lsn) if lsn else None
        if position is not None and (
            self.last_commit_lsn is None or position > self.last_commit_lsn[1]
        ):
            self.last_commit_lsn = (lsn or "", position)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        idempotent: bool = False,
    ) -> Any:
        """One call; with `idempotent` (a POST the backend keys), retried as a write whose
        outcome is unknown. Migration runs are not: a retried `-1` would go down twice."""
        if method in _WRITE_METHODS and self.read_only:
            raise ReadOnlyError(method, path)
        headers: dict[str, str] = {}
        params = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        writing = method in _WRITE_METHODS
        if not writing and self.last_commit_lsn is not None:
            headers[MIN_LSN] = self.last_commit_lsn[0]
        if writing:
            self.writes_in_flight += 1
        try:
            if not idempotent:
                return await self._send(method, path, params, json_body, headers)
            # One key for every attempt: the backend replays a write that did happen.
            headers["Idempotency-Key"] = str(uuid.uuid4())
            retrying = AsyncRetrying(
                stop=stop_after_attempt(self.write_attempts),
                wait=wait_exponential(multiplier=0.25, max=2.0),
                retry=retry_if_exception(_outcome_unknown_or_unwritten),
                reraise=True,
            )
            async for attempt in retrying:
                with attempt:
                    return await self._send(method, path, params, json_body, headers)
            raise AssertionError("unreachable: the last attempt returns or raises")
        finally:
            if writing:
                self.writes_in_flight -= 1

    async def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        json_body: Any,
        headers: dict[str, str],
    ) -> Any:
        """One HTTP call, recorded in the log; a non-2xx answer raises ApiError."""
        shown = path + ("?" + str(httpx.QueryParams(params)) if params else "")
        started = time.perf_counter()
        at = datetime.now()
        try:
            response = await self.http.request(
                method, path, params=params, json=json_body, headers=headers
            )
        except httpx.HTTPError as exc:
            latency = (time.perf_counter() - started) * 1000
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._record(RequestRecord(at, method, shown, 0, latency, error=detail))
            raise BackendUnreachable(detail) from None
        latency = (time.perf_counter() - started) * 1000
        self._remember_commit(response.headers.get(COMMIT_LSN))
        db_ms, statements = _server_timing(response.headers.get("server-timing"))
        error = None if response.is_success else _problem(response)
        self._record(
            RequestRecord(
                at,
                method,
                shown,
                response.status_code,
                latency,
                statements,
                db_ms,
                response.headers.get("x-request-id"),
                error.message if error else None,
            )
        )
        if error is not None:
            raise error
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # -- health and users -----------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/health")
        return result

    async def list_users(
        self, view: UserView, *, limit: int = 100, cursor: str | None = None, reverse: bool = False
    ) -> UserPage:
        """A keyset page of `view` from `cursor` (a `next` or a `prev` of the same order);
        `reverse`: in the reverse of the view's order."""
        params = {"limit": limit, "cursor": cursor, **view.params(reverse=reverse)}
        result = await self.request("GET", "/users", params=params)
        items = [User.from_api(item) for item in result["items"]]
        following, before = result.get("next"), result.get("prev")
        return UserPage(
            items,
            None if following is None else str(following),
            None if before is None else str(before),
        )

    async def count_users(self, view: UserView) -> int:
        result = await self.request("GET", "/users/count", params=view.filter_params())
        return int(result["total"])

    async def export_users(self, view: UserView, export_format: str) -> AsyncGenerator[bytes, None]:
        """The view's every row as a file, chunk by chunk as the backend sends them (the
        whole file is never held). Recorded in the log when the answer starts."""
        params = {"format": export_format, **view.params()}
        headers = {MIN_LSN: self.last_commit_lsn[0]} if self.last_commit_lsn else {}
        path = "/users/export"
        shown = f"{path}?{httpx.QueryParams(params)}"
        started, at = time.perf_counter(), datetime.now()
        # No read timeout past the usual: chunks keep coming while the export runs.
        try:
            async with self.http.stream("GET", path, params=params, headers=headers) as response:
                latency = (time.perf_counter() - started) * 1000
                error = None
                if not response.is_success:
                    await response.aread()
                    error = _problem(response)
                self._record(
                    RequestRecord(
                        at,
                        "GET",
                        shown,
                        response.status_code,
                        latency,
                        request_id=response.headers.get("x-request-id"),
                        error=error.message if error else None,
                    )
                )
                if error is not None:
                    raise error
                async for chunk in response.aiter_raw():
                    yield chunk
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise BackendUnreachable(detail) from None

    async def get_user(self, user_id: int) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", f"/users/{user_id}")
        return result

    async def create_user(self, name: str, email: str) -> dict[str, Any]:
        body = {"name": name, "email": email}
        result: dict[str, Any] = await self.request(
            "POST", "/users", json_body=body, idempotent=True
        )
        return result

    async def update_user(self, user_id: int, **changes: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("PATCH", f"/users/{user_id}", json_body=changes)
        return result

    async def delete_user(self, user_id: int) -> None:
        await self.request("DELETE", f"/users/{user_id}")

    async def batch_users(self, users: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "POST", "/users/batch", json_body={"users": users}, idempotent=True
        )
        return result

    # -- posts ----------------------------------------------------------------------------------

    async def get_post(self, post_id: int) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", f"/posts/{post_id}")
        return result

    async def create_post(self, user_id: int, title: str, body: str) -> dict[str, Any]:
        data = {"user_id": user_id, "title": title, "body": body}
        result: dict[str, Any] = await self.request(
            "POST", "/posts", json_body=data, idempotent=True
        )
        return result

    async def update_post(self, post_id: int, **changes: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("PATCH", f"/posts/{post_id}", json_body=changes)
        return result

    async def delete_post(self, post_id: int) -> None:
        await self.request("DELETE", f"/posts/{post_id}")

    # -- transactions ---------------------------------------------------------------------------

    async def transactions(
        self, *, limit: int = 50, after: int | None = None, order: str = "desc"
    ) -> dict[str, Any]:
        params = {"limit": limit, "after": after, "order": order}
        result: dict[str, Any] = await self.request("GET", "/transactions", params=params)
        return result

    async def transaction_stats(self, window: int = 60) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "GET", "/transactions/stats", params={"window": window}
        )
        return result

    async def stream_transactions(
        self, last_event_id: str | None = None, on_open: Callable[[], None] | None = None
    ) -> AsyncIterator[StreamEvent]:
        """The live stream; resumes after `last_event_id`. Ends when the connection does."""
        path = "/transactions/stream"
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        started = time.perf_counter()
        at = datetime.now()
        # Heartbeats come every 15 s: a read timeout past that means the stream is dead.
        timeout = httpx.Timeout(self.timeout, read=40.0, connect=3.0)
        try:
            async with httpx_sse.aconnect_sse(
                self.http, "GET", path, headers=headers, timeout=timeout
            ) as source:
                response = source.response
                latency = (time.perf_counter() - started) * 1000
                if not response.is_success:
                    await response.aread()
                    error = _problem(response)
                    self._record(
                        RequestRecord(
                            at, "GET", path, response.status_code, latency, error=error.message
                        )
                    )
                    raise error
                self._record(
                    RequestRecord(
                        at,
                        "GET",
                        path,
                        response.status_code,
                        latency,
                        request_id=response.headers.get("x-request-id"),
                    )
                )
                if on_open is not None:
                    on_open()
                async for sse in source.aiter_sse():
                    if not sse.data:
                        continue
                    try:
                        data = json.loads(sse.data)
                    except ValueError:
                        continue
                    yield StreamEvent(sse.id, sse.event, data)
        except (httpx.HTTPError, httpx_sse.SSEError) as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise BackendUnreachable(detail) from None

    # -- the X-ray ------------------------------------------------------------------------------

    # The X-ray's records are Pydantic models, imported on the first look: building them was
    # a tenth of the console's imports before its first frame.

    async def request_trace(self, request_id: str) -> RequestTrace:
        from stackdeck.tui.xray_records import RequestTrace, typed

        return typed(RequestTrace, await self.request("GET", f"/requests/{request_id}"))

    async def statement_plan(self, request_id: str, index: int) -> StatementPlan:
        from stackdeck.tui.xray_records import StatementPlan, typed

        path = f"/requests/{request_id}/statements/{index}/plan"
        return typed(StatementPlan, await self.request("GET", path))

    async def transaction_detail(self, transaction_id: int) -> TransactionDetail:
        from stackdeck.tui.xray_records import TransactionDetail, typed

        path = f"/transactions/{transaction_id}"
        return typed(TransactionDetail, await self.request("GET", path))

    # -- migrations -----------------------------------------------------------------------------

    async def migrations(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/migrations")
        return result

    async def migration_sql(self, from_rev: str, to_rev: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "GET", "/migrations/sql", params={"from": from_rev, "to": to_rev}
        )
        return result

    async def migration_source(self, revision: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", f"/migrations/{revision}/source")
        return result

    async def upgrade(self, target: str = "head") -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "POST", "/migrations/upgrade", json_body={"target": target}
        )
        return result

    async def downgrade(self, target: str = "-1") -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "POST", "/migrations/downgrade", json_body={"target": target}
        )
        return result
