"""Post schemas: PostCreate (input), PostUpdate (partial), PostRead (output)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_validator

from stackdeck.backend.schemas.types import Body, Id, Title, reject_null


class PostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Id
    title: Title
    body: Body = ""
    published: bool = True


class PostUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Title | None = None
    body: Body | None = None
    published: bool | None = None

    @field_validator("title", "body", "published", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        return reject_null(value)


class PostRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    user_id: int
    title: str
    body: str
    published: bool
    created_at: datetime
