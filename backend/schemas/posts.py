"""Post schemas: PostCreate (input), PostUpdate (partial), PostRead (output), and how a
list of them is sorted and filtered."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stackdeck.backend.schemas.cursor import KeyType
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


PostSortParam = Literal["id", "-id", "created_at", "-created_at", "title", "-title"]
# A sort key's types, for checking a cursor's: the sort column's, then the id's.
POST_KEY_KINDS: dict[str, tuple[KeyType, ...]] = {
    "id": ("int",),
    "created_at": ("timestamp", "int"),
    "title": ("text", "int"),
}
# A post's fields as the API writes them (and an export's columns).
POST_FIELDS = ("id", "user_id", "title", "body", "published", "created_at")


class PostFilters(BaseModel):
    """Which posts a list or export covers; every filter given must hold."""

    model_config = ConfigDict(frozen=True)

    user_id: Id | None = Field(None, description="only this user's posts")
    published: bool | None = Field(None, description="true: published only; false: drafts")

    def given(self) -> dict[str, Any]:
        return {name: value for name, value in self if value is not None}

    def shape(self) -> frozenset[str]:
        return frozenset(self.given())
