"""The backend-down banner: shown while the backend does not answer, with the next retry."""

from __future__ import annotations

from textual.widgets import Static


class Banner(Static):
    def show_down(self, detail: str, retry_in: float) -> None:
        self.update(f"⚠ backend unreachable — retrying in {retry_in:.0f} s  ({detail})")
        self.display = True

    def hide(self) -> None:
        self.display = False
