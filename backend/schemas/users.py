"""User schemas: UserCreate (input), UserUpdate (partial), UserRead (output), and how a
list of them is sorted and filtered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from stackdeck.backend.schemas.cursor import KeyType
from stackdeck.backend.schemas.posts import PostRead
from stackdeck.backend.schemas.types import MAX_BIGINT, Email, Name, Text, reject_null


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


# The orders a list of users comes in: a column, descending with a leading `-`.
UserSortParam = Literal[
    "id",
    "-id",
    "name",
    "-name",
    "email",
    "-email",
    "created_at",
    "-created_at",
    "post_count",
    "-post_count",
]

# A sort key's types, for checking a cursor's: the sort column's, then the id's.
KEY_KINDS: dict[str, tuple[KeyType, ...]] = {
    "id": ("int",),
    "name": ("text", "int"),
    "email": ("text", "int"),
    "created_at": ("timestamp", "int"),
    "post_count": ("count", "int"),
}
# A user's fields as the API writes them (and an export's columns).
USER_FIELDS = ("id", "name", "email", "post_count", "created_at", "updated_at")

SearchText = Annotated[Text, StringConstraints(max_length=200)]
Count = Annotated[int, Field(ge=0, le=MAX_BIGINT)]


class UserFilters(BaseModel):
    """Which users a list, count or export covers; every filter given must hold."""

    model_config = ConfigDict(frozen=True)

    q: SearchText | None = Field(None, description="name or email contains (any case)")
    name: SearchText | None = Field(None, description="name contains (any case)")
    email: SearchText | None = Field(None, description="email contains (any case)")
    created_from: datetime | None = Field(
        None, description="created at or after (ISO 8601; without an offset, UTC)"
    )
    created_to: datetime | None = Field(
        None, description="created before (ISO 8601; without an offset, UTC)"
    )
    posts_min: Count | None = Field(None, description="at least this many posts")
    posts_max: Count | None = Field(None, description="at most this many posts")

    @field_validator("created_from", "created_to")
    @classmethod
    def _utc_unless_said(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:00-05:00 is past the last year there is
            raise ValueError("is out of range") from None

    @field_validator("created_to")
    @classmethod
    def _after_from(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("created_from")
        if value is not None and start is not None and value < start:
            raise ValueError("must not be before created_from")
        return value

    @field_validator("posts_max")
    @classmethod
    def _at_least_min(cls, value: int | None, info: ValidationInfo) -> int | None:
        least = info.data.get("posts_min")
        if value is not None and least is not None and value < least:
            raise ValueError("must not be less than posts_min")
        return value

    @field_validator("q", "name", "email", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: object) -> object:
        return None if value == "" else value

    def given(self) -> dict[str, Any]:
        return {name: value for name, value in self if value is not None}

    def shape(self) -> frozenset[str]:
        """The filters given: what a statement's text depends on (not their values)."""
        return frozenset(self.given())
