"""Cell helpers: plain Text so user data is never read as markup, and compact timestamps."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text


def cell(value: object, style: str = "") -> Text:
    return Text("" if value is None else str(value), style=style, no_wrap=True, end="")


def when(value: str | None, *, seconds: bool = False) -> str:
    """ISO timestamp from the API -> local "YYYY-MM-DD HH:MM" (or "HH:MM:SS")."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value).astimezone()
    except ValueError:
        return value
    return moment.strftime("%H:%M:%S") if seconds else moment.strftime("%Y-%m-%d %H:%M")
