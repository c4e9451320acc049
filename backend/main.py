"""The app factory: create_app(settings) builds everything; the lifespan owns the resources."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from stackdeck.backend.api import (
    health,
    migrations,
    posts,
    transactions,
    users,
    xray,
)
from stackdeck.backend.api.deps import READERS
from stackdeck.backend.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from stackdeck.backend.api.problems import install_problem_handlers, install_problem_openapi
from stackdeck.backend.api.read_your_writes import install_read_your_writes_openapi
from stackdeck.backend.api.security import OPEN_PATHS, SecurityMiddleware
from stackdeck.backend.db.connections import PoolerCheck
from stackdeck.backend.db.embedded import EmbeddedPostgres
from stackdeck.backend.db.engine import create_engine, create_sessionmaker
from stackdeck.backend.db.listener import Listener
from stackdeck.backend.db.reads import ReadPool
from stackdeck.backend.services.events import EventHub
from stackdeck.backend.services.idempotency import purge_periodically
from stackdeck.backend.services.migrations import MigrationsService
from stackdeck.backend.services.outcomes import CHANNEL
from stackdeck.backend.services.transactions import event_from_payload
from stackdeck.backend.services.xray import LOOKUP_CHANNEL, RequestTraces
from stackdeck.backend.settings import Settings, mask_url

log = logging.getLogger("stackdeck")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        embedded: EmbeddedPostgres | None = None
        url = settings.database_url_value()
        if url is None:
            embedded = EmbeddedPostgres(settings.data_dir)
            url = await anyio.to_thread.run_sync(embedded.start)
        if settings.pool_mode == "transaction" and settings.statement_timeout_ms:
            log.info(
                "pool mode transaction: statement_timeout is the role's "
                "(ALTER ROLE … SET statement_timeout), not set per session"
            )
        engine = create_engine(url, settings)
        app.state.engine = engine
        traces.engine = engine
        app.state.sessions = create_sessionmaker(engine)
        read_url = settings.read_database_url_value()
        app.state.reads = reads = await ReadPool.open(url, settings, read_url)
        app.state.migrations = MigrationsService(
            engine, lock_timeout_ms=settings.statement_timeout_ms or 15_000
        )
        app.state.database_url = mask_url(url)
        log.info("database: %s", app.state.database_url)
        if read_url is not None:
            log.info("reads: on the standby %s", mask_url(read_url))
        hub = EventHub(settings.stream_queue_size)

        def publish_if_subscribed(payload: str) -> None:
            # Parsed only for someone (2-3 % of a write's CPU): a stream subscribes
            # before it replays the table, so what arrived before it is in what it replays.
            if hub.subscriber_count:
                hub.publish(event_from_payload(payload))

        listener = Listener(
            # LISTEN holds a session: never through a transaction pooler.
            settings.direct_database_url_value() or url,
            CHANNEL,
            on_payload=publish_if_subscribed,
            on_reconnect=hub.resync_all,
            also={LOOKUP_CHANNEL: traces.asked},
        )
        app.state.events = hub
        app.state.listener = listener
        app.state.loop = asyncio.get_running_loop()
        listener.start()
        purge = asyncio.create_task(purge_periodically(app.state.sessions))
        try:
            yield
        finally:
            purge.cancel()
            await listener.stop()
            await reads.close()
            await engine.dispose()
            if embedded is not None:
                await anyio.to_thread.run_sync(embedded.stop)

    app = FastAPI(
        title="stackdeck",
        version="1.0",
        summary="Users, posts, live transaction outcomes and migrations over an async stack",
        lifespan=lifespan,
        # Every route in one flat list (the routers carry the whole prefix): an included
        # router is matched as a level of its own, twice a request (a tenth of a read's CPU).
        routes=[
            route
            for module in (users, posts, transactions, migrations, xray, health)
            for route in module.router.routes
        ],
        # FastAPI's native OpenTelemetry looks for configured providers on every request
        # (3 % of a read); stackdeck configures none and reports through Server-Timing.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.pooler = PoolerCheck()
    app.state.traces = traces = RequestTraces()
    install_problem_handlers(app)
    install_problem_openapi(app, OPEN_PATHS)
    install_read_your_writes_openapi(app, READERS)
    # Added last is outermost: the request context wraps everything, errors included.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(
        SecurityMiddleware,
        allowed_hosts=settings.allowed_hosts,
        bind_host=settings.host,
        token=settings.api_token.get_secret_value() if settings.api_token else None,
    )
    app.add_middleware(RequestContextMiddleware, traces=traces if settings.xray else None)
    return app
