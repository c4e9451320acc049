"""The two baselines stackdeck is measured against, served by the same uvicorn settings.

- the limit: Starlette and raw asyncpg from a pool, running the same SQL by hand (reads,
  and `POST /users`: the insert, the outcome row with its NOTIFY, the commit, the commit
  LSN, in one transaction as the product runs them; with `--xray` the X-ray's recording too);
- the naive peer: FastAPI the way the usual tutorial writes it (a yield dependency handing
  out an AsyncSession, session.get, a Pydantic response model, default engine settings).

Run one: python -m benchmarks.peers limit|naive --port P --database-url URL [--xray]
"""

import argparse
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
import uvicorn
from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import selectinload, undefer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stackdeck.backend.db.listener import asyncpg_dsn
from stackdeck.backend.db.models import User
from stackdeck.backend.schemas.users import UserCreate, UserWithPosts
from stackdeck.backend.services.outcomes import CHANNEL, LOG_LOCK_KEY, MAX_CHANGES

USER_WITH_POSTS = """
SELECT u.id, u.name, u.email, u.created_at, u.updated_at,
       (SELECT count(posts.id) FROM posts WHERE posts.user_id = u.id) AS post_count,
       p.id AS post_id, p.title, p.body, p.created_at AS post_created_at
FROM users AS u LEFT OUTER JOIN posts AS p ON u.id = p.user_id
WHERE u.id = $1
ORDER BY p.id
"""
USERS_PAGE = """
SELECT u.id, u.name, u.email, u.created_at, u.updated_at,
       (SELECT count(posts.id) FROM posts WHERE posts.user_id = u.id) AS post_count
FROM users AS u WHERE u.id > $1 ORDER BY u.id LIMIT $2
"""
POSTS_OF = """
SELECT posts.user_id, posts.id, posts.title, posts.body, posts.created_at
FROM posts WHERE posts.user_id = ANY($1::bigint[]) ORDER BY posts.id
"""

# The product's write, statement for statement (services/users.py, services/outcomes.py,
# services/unit_of_work.py): the insert, then the outcome row, serialised by the advisory
# lock and notified in the same statement, then the commit and the commit LSN after it.
INSERT_USER = """
INSERT INTO users (name, email) VALUES ($1, $2)
RETURNING id, name, email, post_count, created_at, updated_at
"""
_OUTCOME_COLUMNS = "operation, entity, entity_id, outcome, duration_ms, statement_count, request_id"
RECORD_OUTCOME = f"""
WITH serialised AS (SELECT pg_advisory_xact_lock({LOG_LOCK_KEY})),
entry AS (
    INSERT INTO transaction_log ({_OUTCOME_COLUMNS})
    SELECT 'users.create', 'user', $1, 'committed', $2, 1, $3 FROM serialised
    RETURNING *
)
SELECT entry.id, pg_notify('{CHANNEL}', row_to_json(entry)::text) FROM entry
"""
RECORD_OUTCOME_XRAY = f"""
WITH serialised AS (SELECT pg_advisory_xact_lock({LOG_LOCK_KEY})),
changed AS (
    DELETE FROM xray_changes WHERE txid = txid_current()
    RETURNING seq, table_name, row_id, op, before, after
),
entry AS (
    INSERT INTO transaction_log ({_OUTCOME_COLUMNS}, statements, changes)
    SELECT 'users.create', 'user', $1, 'committed', $2, 1, $3, $4::jsonb, (
        SELECT coalesce(jsonb_agg(
            jsonb_build_object(
                'table', table_name, 'id', row_id, 'op', op, 'before', before, 'after', after
            ) ORDER BY seq
        ), '[]')
        FROM (SELECT * FROM changed ORDER BY seq LIMIT {MAX_CHANGES}) AS first_changes
    )
    FROM serialised
    RETURNING *
)
SELECT entry.id, pg_notify('{CHANNEL}', (to_jsonb(entry) - 'statements' - 'changes')::text)
FROM entry
"""
COMMIT_LSN = "SELECT pg_current_wal_insert_lsn()::text"


def _post(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "title": row["title"],
        "body": row["body"],
        "created_at": row["created_at"].isoformat(),
    }


def _user(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "post_count": row["post_count"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def limit_app(url: str, pool_size: int, xray: bool = False) -> Starlette:
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        # The X-ray's triggers record while the session says so, as the product's sessions do.
        settings = {"stackdeck.xray": "on"} if xray else {}
        pool = await asyncpg.create_pool(
            asyncpg_dsn(url), min_size=pool_size, max_size=pool_size, server_settings=settings
        )
        yield
        await pool.close()

    async def user(request: Request) -> Response:
        assert pool is not None
        rows = await pool.fetch(USER_WITH_POSTS, int(request.path_params["user_id"]))
        if not rows:
            return Response(status_code=404)
        body = _user(rows[0]) | {
            "posts": [
                {
                    "id": r["post_id"],
                    "user_id": r["id"],
                    "title": r["title"],
                    "body": r["body"],
                    "created_at": r["post_created_at"].isoformat(),
                }
                for r in rows
                if r["post_id"] is not None
            ]
        }
        return Response(json.dumps(body), media_type="application/json")

    async def users(request: Request) -> Response:
        assert pool is not None
        limit = int(request.query_params.get("limit", 50))
        async with pool.acquire() as conn:
            rows = await conn.fetch(USERS_PAGE, int(request.query_params.get("after", 0)), limit)
            posts = await conn.fetch(POSTS_OF, [r["id"] for r in rows])
        by_user: dict[int, list[dict[str, Any]]] = {}
        for p in posts:
            by_user.setdefault(p["user_id"], []).append(_post(p))
        items = [_user(r) | {"posts": by_user.get(r["id"], [])} for r in rows]
        return Response(json.dumps({"items": items}), media_type="application/json")

    async def create_user(request: Request) -> Response:
        assert pool is not None
        data = UserCreate.model_validate_json(await request.body())
        request_id = uuid.uuid4().hex
        started = time.perf_counter()
        async with pool.acquire() as conn:
            try:
                async with conn.transaction():
                    row = await conn.fetchrow(INSERT_USER, data.name, data.email)
                    assert row is not None
                    took = (time.perf_counter() - started) * 1000
                    if xray:
                        trace = [{"sql": INSERT_USER, "rows": 1, "duration_ms": round(took, 3)}]
                        await conn.fetchrow(
                            RECORD_OUTCOME_XRAY, row["id"], took, request_id, json.dumps(trace)
                        )
                    else:
                        await conn.fetchrow(RECORD_OUTCOME, row["id"], took, request_id)
            except asyncpg.UniqueViolationError:
                return Response(status_code=409)
            lsn = await conn.fetchval(COMMIT_LSN)
        body = dict(row) | {
            "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat(),
        }
        return Response(
            json.dumps(body),
            status_code=201,
            media_type="application/json",
            headers={
                "Location": f"/api/v1/users/{row['id']}",
                "X-Request-ID": request_id,
                "X-Stackdeck-Commit-LSN": lsn,
            },
        )

    return Starlette(
        routes=[
            Route("/api/v1/users/{user_id:int}", user),
            Route("/api/v1/users", users),
            Route("/api/v1/users", create_user, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


def naive_app(url: str) -> FastAPI:
    engine = create_async_engine(url)  # defaults, as the tutorial leaves them
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    app = FastAPI()

    @app.get("/api/v1/users/{user_id}", response_model=UserWithPosts)
    async def read_user(
        user_id: int, session: Annotated[AsyncSession, Depends(get_session)]
    ) -> User:
        user = await session.get(
            User, user_id, options=[selectinload(User.posts), undefer(User.post_count)]
        )
        if user is None:
            raise HTTPException(404)
        return user

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=["limit", "naive"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--xray", action="store_true", help="the limit records for the X-ray")
    args = parser.parse_args()
    app = (
        limit_app(args.database_url, args.pool_size, args.xray)
        if args.peer == "limit"
        else naive_app(args.database_url)
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
