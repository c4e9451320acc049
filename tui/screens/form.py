"""A modal form: fields in, one API call in a worker, the API's 422/409 errors beside each field."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from stackdeck.tui.client import ApiError, FieldError

Submit = Callable[[dict[str, str]], Awaitable[Any]]


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    value: str = ""
    multiline: bool = False


class FormScreen(ModalScreen[Any]):
    """Dismisses with what `submit` returned; with None when cancelled."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Save"),
    ]

    def __init__(self, title: str, fields: list[FormField], submit: Submit) -> None:
        super().__init__()
        self.form_title = title
        self.fields = fields
        self.submit = submit

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.form_title, id="form-title")
            for f in self.fields:
                yield Label(f.label, classes="field-label")
                if f.multiline:
                    yield TextArea(f.value, id=f"field-{f.name}", classes="field")
                else:
                    yield Input(f.value, id=f"field-{f.name}", classes="field")
                yield Static("", id=f"error-{f.name}", classes="field-error")
            yield Static("", id="form-error")
            with Horizontal(id="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def values(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for f in self.fields:
            selector = f"#field-{f.name}"
            if f.multiline:
                found[f.name] = self.query_one(selector, TextArea).text
            else:
                found[f.name] = self.query_one(selector, Input).value
        return found

    def show_errors(self, error: ApiError | None) -> None:
        by_field = error.field_errors() if error else {}
        for f in self.fields:
            self.query_one(f"#error-{f.name}", Static).update(by_field.get(f.name, ""))
        matched = any(f.name in by_field for f in self.fields)
        general = "" if error is None or matched else error.message
        self.query_one("#form-error", Static).update(general)

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def action_submit(self) -> None:
        self.save()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="form")
    async def save(self) -> None:
        self.query_one("#save", Button).disabled = True
        try:
            result = await self.submit(self.values())
        except ApiError as error:
            # A duplicate email (409) is about the email field.
            if error.status == 409 and any(f.name == "email" for f in self.fields):
                error.errors.append(FieldError("email", error.detail or error.title))
            self.show_errors(error)
            return
        finally:
            if self.is_attached:  # not while the app quits: its screens are gone
                self.query_one("#save", Button).disabled = False
        self.dismiss(result)
