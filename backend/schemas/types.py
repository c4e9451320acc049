"""Constrained field types shared by the schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

MAX_BIGINT = 2**63 - 1


def no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here keeps it a 422, not a database error.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Text = Annotated[str, AfterValidator(no_nul)]
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100),
    AfterValidator(no_nul),
    AfterValidator(not_blank),
]
Email = Annotated[
    str,
    StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    AfterValidator(no_nul),
    Field(examples=["ada@example.com"]),
]
Title = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(no_nul),
    AfterValidator(not_blank),
]
Body = Annotated[str, StringConstraints(max_length=50_000), AfterValidator(no_nul)]
Id = Annotated[int, Field(ge=1, le=MAX_BIGINT)]


def reject_null(value: object) -> object:
    """For partial updates: a field may be left out, but null would erase a required value."""
    if value is None:
        raise ValueError("may be omitted, but not null")
    return value
