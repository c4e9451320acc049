"""Bulk inserts with COPY through asyncpg, on the session's own connection and transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class BulkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _driver(self) -> Any:
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        return raw.driver_connection

    async def reserve_user_ids(self, count: int) -> int:
        """The first of `count` consecutive user ids no one else will be handed.

        The table lock keeps concurrent writers out until this transaction ends, so the
        range after the current maximum is ours; the sequence is moved past it.
        """
        await self.session.execute(text("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"))
        first = int(
            (
                await self.session.execute(text("SELECT coalesce(max(id), 0) + 1 FROM users"))
            ).scalar_one()
        )
        if count:
            await self.session.execute(
                text("SELECT setval(pg_get_serial_sequence('users', 'id'), :last)"),
                {"last": first + count - 1},
            )
        return first

    async def copy_users(self, rows: list[tuple[object, ...]]) -> None:
        driver = await self._driver()
        await driver.copy_records_to_table("users", records=rows, columns=["id", "name", "email"])

    async def copy_posts(self, rows: list[tuple[object, ...]]) -> None:
        driver = await self._driver()
        await driver.copy_records_to_table(
            "posts", records=rows, columns=["user_id", "title", "body"]
        )
