"""Transaction log schemas: one outcome, per-second stats, and the batch import."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stackdeck.backend.schemas.types import Body, Email, Name, Title


class TransactionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int = Field(description="the event id; ids are handed out in commit order")
    occurred_at: datetime
    operation: str = Field(examples=["users.create"])
    entity: str | None
    entity_id: int | None
    outcome: Literal["committed", "rolled_back"]
    reason: str | None = Field(description="why it rolled back, in a few words")
    duration_ms: float
    statement_count: int
    request_id: str | None


class StatsBucket(BaseModel):
    at: datetime
    committed: int
    rolled_back: int


class OutcomeTotals(BaseModel):
    committed: int
    rolled_back: int


class TransactionStats(BaseModel):
    window: int = Field(description="seconds covered by `buckets`, one bucket a second")
    buckets: list[StatsBucket] = Field(description="oldest first, the current second last")
    totals: OutcomeTotals = Field(description="every outcome ever recorded")


class BatchPost(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Title
    body: Body = ""


class BatchUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    email: Email
    posts: list[BatchPost] = Field(default_factory=list, max_length=100)


class UserBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: list[BatchUser] = Field(min_length=1, max_length=1000)


class BatchResult(BaseModel):
    created: int
    user_ids: list[int] = Field(description="the new users' ids, in the order given")
    post_count: int
