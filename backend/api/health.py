"""GET /health: is the backend up, and can it reach its database."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from backend.api.deps import SessionDep
from backend.services.health import database_is_up

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["up", "down"]


@router.get("/health", summary="Backend and database status (200 even when degraded)")
async def health(session: SessionDep) -> Health:
    up = await database_is_up(session)
    return Health(status="ok" if up else "degraded", database="up" if up else "down")
