"""User schemas: UserCreate (input), UserUpdate (partial), UserRead (output)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_validator

from stackdeck.backend.schemas.posts import PostRead
from stackdeck.backend.schemas.types import Email, Name, reject_null


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    email: Email


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    email: Email | None = None

    @field_validator("name", "email", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        return reject_null(value)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    email: str
    post_count: int
    created_at: datetime
    updated_at: datetime


class UserWithPosts(UserRead):
    posts: list[PostRead]
