"""schemathesis against /openapi.json: no 5xx, and no response the document does not describe.

Every operation is fuzzed with valid and invalid input (positive and negative generation),
then the stateful phase follows the links between operations (schemathesis infers them from
the document: a created user's `id` feeds GET/PATCH/DELETE /users/{user_id} and
GET /posts?user_id=, and so on). Each response is checked for: a 5xx, a status code, a
Content-Type, a header or a body that the document does not describe.

The requests go through a real uvicorn on loopback, so the Host header is 127.0.0.1 (the app
refuses foreign names) and no Origin is sent (foreign-origin writes are refused).

GET /transactions/stream is excluded: an SSE stream never ends, so a fuzzer's request would
hang; it is tested in test_transactions.py and test_transactions_two_processes.py.

A third run sends every write that takes an Idempotency-Key with a new key, then sends the
same request again: no 5xx either time, and a retry of a success is its replay, the same
status, body and headers, marked `Idempotent-Replayed: true`.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import LiveServer
from tests.helpers import answer_of
from tests.pg import truncate_all

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
KEY = "Idempotency-Key"
NEVER_ENDS = "/transactions/stream$"
SCHEMA_CHANGING = r"^/api/v1/migrations/(upgrade|downgrade)$"


@dataclass
class Tally:
    """How many requests the fuzzer sent, by status, so a run that tested nothing fails."""

    cases: int = 0
    by_status: dict[int, int] = field(default_factory=dict)

    def add(self, status: int) -> None:
        self.cases += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1


def load_schema(url: str) -> schemathesis.BaseSchema:
    # Running migrations rewrites the schema under the other cases' feet; their behaviour,
    # bad targets included, is tested in tests/test_migrations_*.py.
    return (
        schemathesis.openapi.from_url(f"{url}/openapi.json")
        .exclude(path_regex=NEVER_ENDS)
        .exclude(path_regex=SCHEMA_CHANGING)
    )


def run_settings(examples: int, bounded: bool) -> hypothesis.settings:
    # The bounded form is derandomized: the default suite tests the same cases every run.
    return hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None if bounded else hypothesis.settings().database,
        derandomize=bounded,
        suppress_health_check=list(HealthCheck),
    )


def fuzz_operations(url: str, examples: int, bounded: bool, tally: Tally) -> None:
    """Up to `examples` cases per operation and generation mode."""
    for result in load_schema(url).get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        modes = [GenerationMode.POSITIVE]
        if any(operation.iter_parameters()) or operation.body:
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @run_settings(examples, bounded)
            def fuzz(case: schemathesis.Case[Any]) -> None:
                response = case.call(base_url=url)
                tally.add(response.status_code)
                case.validate_response(response, checks=CHECKS)

            fuzz()


def fuzz_stateful(
    url: str, database_url: str, examples: int, steps: int, bounded: bool, tally: Tally
) -> None:
    """Sequences of calls that follow the document's links from created resources."""

    class Workflow(load_schema(url).as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Each sequence starts from empty tables, so a replayed sequence sees what it saw.
            anyio.from_thread.run(truncate_all, database_url)

        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, str]:
            return {"base_url": url}

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case[Any], **kwargs: object
        ) -> None:
            tally.add(response.status_code)
            case.validate_response(response, checks=CHECKS)

    settings = run_settings(examples, bounded)
    Workflow.run(settings=hypothesis.settings(settings, stateful_step_count=steps))


def answer(response: schemathesis.Response) -> tuple[int, bytes, dict[str, str]]:
    headers = {name: ", ".join(values) for name, values in response.headers.items()}
    return answer_of(response.status_code, response.content, headers)


def aim_at_real_rows(case: schemathesis.Case[Any], api: httpx.Client, n: int) -> None:
    """Every other case's ids name rows that exist, so PATCH and DELETE succeed too."""
    targets = [(case.path_parameters, name) for name in case.path_parameters]
    if isinstance(case.body, dict) and "user_id" in case.body:
        targets.append((case.body, "user_id"))
    if n % 2 or not targets:
        return
    user = api.post("/users", json={"name": f"fuzz {n}", "email": f"fuzz-{n}@example.com"})
    post = api.post("/posts", json={"user_id": user.json()["id"], "title": f"fuzz {n}"})
    ids = {"user_id": user.json()["id"], "post_id": post.json()["id"]}
    for container, name in targets:
        container[name] = ids.get(name, container[name])


def fuzz_keyed_writes(url: str, examples: int, bounded: bool, tally: Tally) -> set[str]:
    """Each write that takes a key, sent with a new one and then again; what was replayed."""
    replayed: set[str] = set()
    numbers = itertools.count(1)
    with httpx.Client(base_url=f"{url}/api/v1", timeout=30) as api:
        for result in load_schema(url).get_all_operations():
            assert isinstance(result, Ok), result
            operation = result.ok()
            # A read has nothing to replay (GET /posts documents the key today only because
            # it shares its service with the writes).
            if operation.method.upper() == "GET" or KEY not in operation.headers:
                continue

            @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
            @run_settings(examples, bounded)
            def fuzz(case: schemathesis.Case[Any]) -> None:
                n = next(numbers)
                aim_at_real_rows(case, api, n)
                case.headers[KEY] = f"fuzz-{n}"  # a new key per case: one key names one request
                first = case.call(base_url=url)
                retry = case.call(base_url=url)
                for response in (first, retry):
                    tally.add(response.status_code)
                    case.validate_response(response, checks=CHECKS)
                assert "idempotent-replayed" not in first.headers
                if first.status_code < 300:
                    assert answer(retry) == answer(first), case.as_curl_command()
                    assert retry.headers.get("idempotent-replayed") == ["true"]
                    replayed.add(case.operation.label)

            fuzz()
    return replayed


async def fuzz(
    server: LiveServer, database_url: str, examples: int, sequences: int, steps: int, bounded: bool
) -> Tally:
    url = server.url
    tally = Tally()
    # schemathesis is synchronous: it runs in a thread while uvicorn serves on this loop.
    await anyio.to_thread.run_sync(fuzz_operations, url, examples, bounded, tally)
    stateless = tally.cases
    await anyio.to_thread.run_sync(
        fuzz_stateful, url, database_url, sequences, steps, bounded, tally
    )
    assert tally.cases - stateless >= sequences, "the stateful phase made too few calls"
    return tally


async def test_fuzzed_requests_get_documented_answers(
    live_server: LiveServer, database_url: str
) -> None:
    """The bounded form: a few hundred cases, derandomized, in the default suite."""
    started = time.monotonic()
    tally = await fuzz(live_server, database_url, examples=10, sequences=20, steps=8, bounded=True)
    print(f"fuzz (bounded): {tally.cases} cases in {time.monotonic() - started:.1f}s", tally)
    assert tally.cases >= 300
    assert 201 in tally.by_status and 422 in tally.by_status and 404 in tally.by_status


KEYED_WRITES = {
    "POST /api/v1/users",
    "POST /api/v1/users/batch",
    "PATCH /api/v1/users/{user_id}",
    "DELETE /api/v1/users/{user_id}",
    "POST /api/v1/posts",
    "PATCH /api/v1/posts/{post_id}",
    "DELETE /api/v1/posts/{post_id}",
}


async def test_fuzzed_keyed_writes_replay_identically(live_server: LiveServer) -> None:
    """Bounded and derandomized: a few cases per keyed write, each sent twice."""
    tally = Tally()
    replayed = await anyio.to_thread.run_sync(fuzz_keyed_writes, live_server.url, 8, True, tally)
    print("fuzz (keyed):", tally)
    assert replayed == KEYED_WRITES  # every keyed write succeeded at least once, and replayed


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_fuzzed_requests_get_documented_answers_long(
    live_server: LiveServer, database_url: str
) -> None:
    """The long form: well over 1,000 random cases, for `just test-all`."""
    started = time.monotonic()
    tally = await fuzz(
        live_server, database_url, examples=60, sequences=100, steps=12, bounded=False
    )
    print(f"fuzz (long): {tally.cases} cases in {time.monotonic() - started:.1f}s", tally)
    assert tally.cases >= 1000
    keyed = Tally()
    replayed = await anyio.to_thread.run_sync(fuzz_keyed_writes, live_server.url, 40, False, keyed)
    print("fuzz (long, keyed):", keyed)
    assert replayed == KEYED_WRITES


async def test_document_says_errors_are_problem_json(client: httpx.AsyncClient) -> None:
    document = (await client.get("http://127.0.0.1/openapi.json")).json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            errors = {status: r for status, r in responses.items() if status >= "400"}
            assert ("400" in errors and "422" in errors) or path.endswith("/health"), (method, path)
            for response in errors.values():
                assert list(response["content"]) == ["application/problem+json"], (method, path)
            if method in ("post", "patch"):
                assert {"403", "413", "415"} <= set(errors), (method, path)
            if "{" in path:
                assert "404" in errors, (method, path)
            assert ("401" in errors) != path.endswith("/health"), (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["paths"]["/api/v1/users"]["post"]["responses"]["503"]["headers"]
