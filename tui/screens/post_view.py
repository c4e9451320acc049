"""The whole of one post, scrollable; `escape` closes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from stackdeck.tui.widgets.cells import when


class PostScreen(ModalScreen[None]):
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [Binding("escape,q,enter", "dismiss", "Close")]

    def __init__(self, post: dict[str, Any], author: dict[str, Any] | None) -> None:
        super().__init__()
        self.post = post
        self.author = author

    def compose(self) -> ComposeResult:
        post, author = self.post, self.author
        byline = (
            f"#{post['id']} by {author['name']} <{author['email']}>" if author else f"#{post['id']}"
        )
        with Vertical(id="dialog"):
            yield Label(post["title"], id="post-title", markup=False)
            yield Label(f"{byline} · {when(post.get('created_at'))}", id="post-meta", markup=False)
            with VerticalScroll(id="post-body-scroll"):
                yield Static(post["body"], id="post-body", markup=False)
