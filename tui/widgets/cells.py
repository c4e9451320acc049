"""Cell helpers: plain Text so user data is never read as markup, long values cut to a
column's width, and compact timestamps."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

# The most a text cell shows: one long email or body must not push every other column
# off the screen. The whole value is a `v` (or an enter on the cell) away.
CELL_WIDTH = 40


def cell(value: object, style: str = "") -> Text:
    return Text("" if value is None else str(value), style=style, no_wrap=True, end="")


def shown(value: object, width: int = CELL_WIDTH) -> str:
    """A value as its cell shows it: on one line, cut to `width` with an ellipsis."""
    text = "" if value is None else str(value)
    line = " ".join(text.split()) if any(c in text for c in "\n\r\t") else text
    return line if len(line) <= width else line[: width - 1] + "…"


def truncated(value: object, width: int = CELL_WIDTH) -> bool:
    """Whether the cell shows less than the whole value."""
    return shown(value, width) != ("" if value is None else str(value))


def when(value: str | None, *, seconds: bool = False) -> str:
    """ISO timestamp from the API -> local "YYYY-MM-DD HH:MM" (or "HH:MM:SS")."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value).astimezone()
    except ValueError:
        return value
    return moment.strftime("%H:%M:%S") if seconds else moment.strftime("%Y-%m-%d %H:%M")
