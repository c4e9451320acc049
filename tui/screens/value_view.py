"""One value whole: JSON pretty-printed as a foldable tree with a search, anything else as
read-only text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, TextArea, Tree
from textual.widgets.tree import TreeNode


def parse_json(text: str) -> Any | None:
    """An object or an array, if the text is one (a bare number or string stays text)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


def _label(key: str | None, value: Any) -> Text:
    head = Text(f"{key}: ", style="bold") if key is not None else Text()
    if isinstance(value, dict):
        return head + Text(f"{{…}} {len(value)} keys", style="dim")
    if isinstance(value, list):
        return head + Text(f"[…] {len(value)} items", style="dim")
    return head + Text(json.dumps(value, ensure_ascii=False))


def _add(node: TreeNode[Any], key: str | None, value: Any) -> None:
    if isinstance(value, dict | list):
        branch = node.add(_label(key, value), data=value, expand=True)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for child_key, child in items:
            _add(branch, str(child_key), child)
    else:
        node.add_leaf(_label(key, value), data=value)


class ValueScreen(ModalScreen[None]):
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("slash", "search", "Search", show=False),
    ]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.value_title = title
        self.text = text
        self.json = parse_json(text)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.value_title, id="value-title", markup=False)
            if self.json is None:
                yield TextArea(self.text, read_only=True, soft_wrap=True, id="value-text")
                return
            yield Input(placeholder="search keys and values… (enter: next)", id="value-search")
            tree: Tree[Any] = Tree(_label(None, self.json), data=self.json, id="value-tree")
            tree.show_root = True
            tree.root.expand()
            items = self.json.items() if isinstance(self.json, dict) else enumerate(self.json)
            for key, child in items:
                _add(tree.root, str(key), child)
            yield tree

    def on_mount(self) -> None:
        self.query("#value-tree, #value-text").first().focus()

    @property
    def value_tree(self) -> Tree[Any]:
        return self.query_one("#value-tree", Tree)

    def matches(self, needle: str) -> list[TreeNode[Any]]:
        """Every node whose key or value holds `needle` (any case), in the tree's order."""
        found: list[TreeNode[Any]] = []
        needle = needle.lower()

        def walk(node: TreeNode[Any]) -> None:
            if needle in str(node.label).lower():
                found.append(node)
            for child in node.children:
                walk(child)

        walk(self.value_tree.root)
        return found

    def action_search(self) -> None:
        if self.json is not None:
            self.query_one("#value-search", Input).focus()

    @on(Input.Changed, "#value-search")
    def _search(self, event: Input.Changed) -> None:
        self._go_to_match(event.value, after_cursor=False)

    @on(Input.Submitted, "#value-search")
    def _next_match(self, event: Input.Submitted) -> None:
        self._go_to_match(event.value, after_cursor=True)

    def _go_to_match(self, needle: str, *, after_cursor: bool) -> None:
        if not needle:
            return
        found = self.matches(needle)
        if not found:
            self.notify(f"no {needle!r} in this value", timeout=2)
            return
        tree = self.value_tree
        current = tree.cursor_node
        start = found.index(current) + 1 if after_cursor and current in found else 0
        node = found[start % len(found)]
        parent = node.parent
        while parent is not None:  # a folded branch opens to show the match
            parent.expand()
            parent = parent.parent
        tree.move_cursor(node)

    def action_close(self) -> None:
        if self.json is not None and self.query_one("#value-search", Input).has_focus:
            self.value_tree.focus()
            return
        self.dismiss(None)
