"""One revision under review: the SQL its upgrade and its downgrade would run, and its source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, TabbedContent, TabPane, TextArea

from stackdeck.tui.client import ApiClient, ApiError

TABS = {"upgrade": "Upgrade SQL", "downgrade": "Downgrade SQL", "source": "Source"}


class RevisionScreen(ModalScreen[None]):
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, client: ApiClient, item: dict[str, Any], parents: list[str]) -> None:
        super().__init__()
        self.client = client
        self.revision = str(item.get("revision", ""))
        self.message = str(item.get("message", ""))
        # A merge has several parents: its SQL is shown from the first.
        self.parent_revision = parents[0] if parents else "base"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"{self.revision} · {self.message}", id="revision-title", markup=False)
            with TabbedContent(id="revision-tabs"):
                for key, title in TABS.items():
                    with TabPane(title, id=f"tab-{key}"):
                        yield TextArea("loading…", read_only=True, id=f"revision-{key}")

    def on_mount(self) -> None:
        self.load()

    def text(self, key: str) -> str:
        return self.query_one(f"#revision-{key}", TextArea).text

    @work(exclusive=True, group="revision")
    async def load(self) -> None:
        client, revision, parent = self.client, self.revision, self.parent_revision
        for key in TABS:
            try:
                if key == "upgrade":
                    text = (await client.migration_sql(parent, revision))["sql"]
                elif key == "downgrade":
                    text = (await client.migration_sql(revision, parent))["sql"]
                else:
                    text = (await client.migration_source(revision))["source"]
            except ApiError as error:
                text = f"-- cannot be shown: {error.message}"
            self.query_one(f"#revision-{key}", TextArea).load_text(str(text))
