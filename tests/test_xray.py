"""The X-ray: every request's statements, every write's statements and changed rows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackdeck.backend.main import create_app
from stackdeck.backend.services.users import UserQueries
from tests.conftest import make_settings
from tests.helpers import eventually, serving
from tests.processes import backend_process


async def create_user(client: httpx.AsyncClient, name: str, email: str) -> dict[str, Any]:
    response = await client.post("/users", json={"name": name, "email": email})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def newest_transaction(client: httpx.AsyncClient) -> dict[str, Any]:
    newest = (await client.get("/transactions", params={"limit": 1})).json()["items"][0]
    detail = await client.get(f"/transactions/{newest['id']}")
    assert detail.status_code == 200, detail.text
    body: dict[str, Any] = detail.json()
    return body


def sqls(record: dict[str, Any]) -> list[str]:
    return [s["sql"] for s in record["statements"]]


async def test_a_create_shows_its_insert_and_the_new_row(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "Ada", "ada@x.io")
    logged = await newest_transaction(client)
    assert (logged["operation"], logged["outcome"]) == ("users.create", "committed")
    assert any(sql.startswith("INSERT INTO users") for sql in sqls(logged))
    assert all(s["duration_ms"] >= 0 for s in logged["statements"])
    [change] = logged["changes"]
    assert (change["table"], change["id"], change["op"]) == ("users", user["id"], "insert")
    assert change["before"] is None
    assert change["after"]["name"] == "Ada" and change["after"]["email"] == "ada@x.io"


async def test_an_update_shows_only_the_changed_columns_before_and_after(
    client: httpx.AsyncClient,
) -> None:
    user = await create_user(client, "Ada", "ada@x.io")
    renamed = await client.patch(f"/users/{user['id']}", json={"name": "Grace"})
    assert renamed.status_code == 200
    logged = await newest_transaction(client)
    assert any(sql.startswith("UPDATE users") for sql in sqls(logged))
    [change] = logged["changes"]
    assert (change["op"], change["id"]) == ("update", user["id"])
    assert change["before"]["name"] == "Ada" and change["after"]["name"] == "Grace"
    assert "email" not in change["before"] and "email" not in change["after"]


async def test_a_delete_shows_the_user_and_the_posts_its_cascade_took(
    client: httpx.AsyncClient,
) -> None:
    user = await create_user(client, "Ada", "ada@x.io")
    posts = [
        (await client.post("/posts", json={"user_id": user["id"], "title": f"T{i}"})).json()
        for i in range(2)
    ]
    assert (await client.delete(f"/users/{user['id']}")).status_code == 204
    logged = await newest_transaction(client)
    deleted = {(c["table"], c["id"]) for c in logged["changes"] if c["op"] == "delete"}
    assert deleted == {("users", user["id"])} | {("posts", p["id"]) for p in posts}
    assert all(c["after"] is None and c["before"]["id"] for c in logged["changes"])


async def test_a_rolled_back_batch_lists_its_statements_and_no_change(
    client: httpx.AsyncClient,
) -> None:
    await create_user(client, "Taken", "taken@x.io")
    # The database refuses the second row: the first was inserted, then rolled back.
    users = [{"name": "A", "email": "a@x.io"}, {"name": "B", "email": "taken@x.io"}]
    failed = await client.post("/users/batch", json={"users": users})
    assert failed.status_code == 409
    logged = await newest_transaction(client)
    assert (logged["operation"], logged["outcome"]) == ("users.batch", "rolled_back")
    assert any(sql.startswith("INSERT INTO users") for sql in sqls(logged))
    assert logged["changes"] == []
    assert (await client.get("/users/count")).json()["total"] == 1


async def test_a_request_is_found_by_its_id_with_its_statements(
    client: httpx.AsyncClient,
) -> None:
    user = await create_user(client, "Ada", "ada@x.io")
    read = await client.get(f"/users/{user['id']}")
    trace = (await client.get(f"/requests/{read.headers['x-request-id']}")).json()
    assert (trace["method"], trace["path"], trace["status"]) == (
        "GET",
        f"/api/v1/users/{user['id']}",
        200,
    )
    assert len(trace["statements"]) == 1 and trace["statements"][0]["rows"] == 1
    assert trace["warnings"] == []
    unknown = await client.get("/requests/no-such-request")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert (await client.get("/requests/bad%20id")).status_code == 422


async def test_a_loop_of_reads_is_flagged_n_plus_one_and_an_embed_page_is_not(
    settings: Any,
) -> None:
    app = create_app(settings)

    async def posts_one_by_one(request: Request) -> dict[str, int]:
        queries = UserQueries(request.app.state.reads)
        for user_id in range(1, 7):
            await queries.get(user_id)
        return {"loaded": 6}

    app.add_api_route("/api/v1/test/one-by-one", posts_one_by_one)
    async with serving(app) as client:
        for i in range(6):
            await create_user(client, f"U{i}", f"u{i}@x.io")
        looped = await client.get("/test/one-by-one")
        embedded = await client.get("/users", params={"embed": "posts", "limit": 50})
        flagged = (await client.get(f"/requests/{looped.headers['x-request-id']}")).json()
        clean = (await client.get(f"/requests/{embedded.headers['x-request-id']}")).json()
    [warning] = flagged["warnings"]
    assert warning["code"] == "n_plus_one" and warning["count"] == 6
    assert warning["sql"] == flagged["statements"][0]["sql"]
    assert clean["warnings"] == [] and len(clean["statements"]) == 2


async def test_a_statement_plan_is_explained_never_run(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "Ada", "ada@x.io")
    read = await client.get(f"/users/{user['id']}")
    rid = read.headers["x-request-id"]
    plan = await client.get(f"/requests/{rid}/statements/0/plan")
    assert plan.status_code == 200, plan.text
    assert plan.json()["plan"][0]["Plan"]["Node Type"]
    assert (await client.get(f"/requests/{rid}/statements/1/plan")).status_code == 404

    created = await client.post("/users", json={"name": "B", "email": "b@x.io"})
    write = (await client.get(f"/requests/{created.headers['x-request-id']}")).json()
    for index, statement in enumerate(write["statements"]):
        planned = await client.get(
            f"/requests/{created.headers['x-request-id']}/statements/{index}/plan"
        )
        if statement["sql"].startswith("INSERT"):
            assert planned.status_code == 200, planned.text
        elif statement["sql"].startswith(("BEGIN", "COMMIT", "SET")):
            assert planned.status_code == 422
    assert (await client.get("/users/count")).json()["total"] == 2  # explaining wrote nothing


HOSTILE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=3, max_size=40
).map(lambda s: f"zq{s}")


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=HOSTILE)
async def test_no_bound_value_reaches_the_recorded_sql(
    client: httpx.AsyncClient, name: str
) -> None:
    email = f"{abs(hash(name))}@canary.io"
    created = await client.post("/users", json={"name": name, "email": email})
    found = await client.get("/users", params={"q": name})
    for response in (created, found):
        trace = (await client.get(f"/requests/{response.headers['x-request-id']}")).json()
        recorded = " ".join(sqls(trace))
        assert name not in recorded and email not in recorded
    if created.status_code == 201:
        logged = await newest_transaction(client)
        assert name not in " ".join(sqls(logged)) and email not in " ".join(sqls(logged))
        assert re.search(r"\$\d", " ".join(sqls(logged)))  # placeholders, not values


async def test_a_request_served_by_another_process_is_found_here(
    database_url: str, app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    env = {"STACKDECK_DATABASE_URL": database_url}
    with backend_process(tmp_path, "--log-level", "warning", env=env) as other:
        async with httpx.AsyncClient(base_url=f"{other.url}/api/v1", timeout=30) as there:
            served = await there.get("/users", params={"limit": 3})
        rid = served.headers["x-request-id"]
        await eventually(lambda: app.state.listener.connected.is_set(), within=10)
        trace = await client.get(f"/requests/{rid}")
        assert trace.status_code == 200, other.log_path.read_text()
        assert trace.json()["path"] == "/api/v1/users" and trace.json()["statements"]


async def test_with_the_xray_off_nothing_is_kept(database_url: str) -> None:
    async with serving(create_app(make_settings(database_url, xray=False))) as client:
        created = await create_user(client, "Ada", "ada@x.io")
        assert created["id"]
        trace = await client.get(
            "/requests/" + (await client.get("/users")).headers["x-request-id"]
        )
        assert trace.status_code == 404
        logged = await newest_transaction(client)
        assert logged["statements"] is None and logged["changes"] is None
