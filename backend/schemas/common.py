"""Shapes shared by every resource: keyset pages and problem details."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: int | None = Field(
        description="cursor for the next page (pass it as `after`); null on the last page"
    )


@dataclass(frozen=True, slots=True)
class Sort:
    """An order of a list: a column, ties broken by the id (in the same direction)."""

    column: str = "id"
    descending: bool = False

    @property
    def name(self) -> str:
        return f"-{self.column}" if self.descending else self.column

    def key_columns(self) -> tuple[str, ...]:
        """The columns a row's place in this order is read from."""
        return ("id",) if self.column == "id" else (self.column, "id")

    def reversed(self) -> Sort:
        return Sort(self.column, not self.descending)


@dataclass(frozen=True, slots=True)
class Start:
    """Where a keyset page is: just past the sort key `key` (a `next`), or, `before`, just
    before it (a `prev`: the page ends at the row before the one with that key)."""

    key: tuple[Any, ...]
    before: bool = False


class SortedPage(BaseModel, Generic[T]):
    """A keyset page of a list that can be sorted by more than its id."""

    items: list[T]
    next: int | str | None = Field(
        description=(
            "where the next page starts, null on the last page: in id order the last id"
            " (pass it as `after` or `cursor`), in any other order an opaque cursor (pass it"
            " as `cursor`, with the same `sort`)"
        )
    )
    prev: str | None = Field(
        None,
        description=(
            "where the page before ends, null on the first page: an opaque cursor (pass it as"
            " `cursor`, with the same `sort`); its page comes in the same order as this one"
        ),
    )


class FieldProblem(BaseModel):
    field: str
    message: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] | None = None
    request_id: str | None = None
