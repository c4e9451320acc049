"""Rows streamed as a file: CSV (RFC 4180, with a header), NDJSON or one JSON array.

CSV comes as chunks of finished records (PostgreSQL writes them); the JSON encoders take
chunks of rows (sequences in `fields` order). Each yields bytes a chunk at a time, so what
is held is one chunk, however long the export runs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Query
from pydantic_core import to_json
from starlette.responses import StreamingResponse

ExportFormat = Literal["csv", "ndjson", "json"]
MEDIA_TYPES: dict[ExportFormat, str] = {
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
    "json": "application/json",
}
FormatQuery = Annotated[
    ExportFormat, Query(alias="format", description="csv (with a header row), ndjson, json")
]


def export_responses(what: str) -> dict[int | str, dict[str, Any]]:
    """The export routes' documented 200: a file in any of the formats."""
    return {
        200: {
            "description": f"every matching {what}, in order, as a file",
            "content": {media_type: {} for media_type in MEDIA_TYPES.values()},
        }
    }


# Chunks of records (asyncpg rows: by position and by column name).
Rows = AsyncIterator[Sequence[Any]]
T = TypeVar("T")


async def csv_file(fields: Sequence[str], records: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The header, then the chunks of CSV records as they come."""
    header = io.StringIO()
    # The csv module for the header; CRLF ends every record, as RFC 4180 has it.
    csv.writer(header, lineterminator="\r\n").writerow(fields)
    yield header.getvalue().encode()  # an export with no rows is its header
    async for chunk in records:
        yield chunk


async def _ndjson(fields: Sequence[str], chunks: Rows) -> AsyncIterator[bytes]:
    async for rows in chunks:
        yield b"".join(to_json(dict(zip(fields, row, strict=True))) + b"\n" for row in rows)


async def _json(fields: Sequence[str], chunks: Rows) -> AsyncIterator[bytes]:
    opening = b"["
    async for rows in chunks:
        array = to_json([dict(zip(fields, row, strict=True)) for row in rows])
        yield opening + array[1:-1]
        opening = b","
    yield b"[]" if opening == b"[" else b"]"


_JSON_ENCODERS = {"ndjson": _ndjson, "json": _json}


def json_file(
    export_format: Literal["ndjson", "json"], fields: Sequence[str], chunks: Rows
) -> AsyncIterator[bytes]:
    return _JSON_ENCODERS[export_format](fields, chunks)


def export_response(
    name: str, export_format: ExportFormat, body: AsyncIterator[bytes]
) -> StreamingResponse:
    """The file as an attachment named after `name` and the time of the export."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[export_format],
        headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.{export_format}"'},
    )


async def primed(chunks: AsyncIterator[T]) -> AsyncIterator[T]:
    """The chunks with the first one already read: a request that fails at once (bad
    cursor, no database) answers problem+json before a 200's headers are sent."""
    first = await anext(chunks, None)

    async def again() -> AsyncIterator[T]:
        if first is not None:
            yield first
        async for rows in chunks:
            yield rows

    return again()
