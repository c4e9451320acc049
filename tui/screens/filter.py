"""The users' filters: a field per filter, checked by the API (its 422 beside the field);
`escape` clears them all."""

from __future__ import annotations

from dataclasses import replace

from textual.binding import Binding

from stackdeck.tui.client import USER_FILTERS, ApiClient, UserView
from stackdeck.tui.screens.form import FormField, FormScreen

LABELS = {
    "name": "Name contains",
    "email": "Email contains",
    "created_from": "Created from (ISO 8601, e.g. 2026-01-31 or 2026-01-31T12:00; UTC)",
    "created_to": "Created before (ISO 8601)",
    "posts_min": "Posts at least",
    "posts_max": "Posts at most",
}
SHORT = {
    "name": "name~{}",
    "email": "email~{}",
    "created_from": "created≥{}",
    "created_to": "created<{}",
    "posts_min": "posts≥{}",
    "posts_max": "posts≤{}",
}


def describe_filters(filters: dict[str, str]) -> str:
    """The active filters in a few characters each, for the pane's title."""
    return ", ".join(SHORT[name].format(filters[name]) for name in USER_FILTERS if name in filters)


class FilterScreen(FormScreen):
    """Dismisses with the filters to apply ({} after `escape`: none); None from Cancel, which
    leaves them as they were."""

    BINDINGS = [
        Binding("escape", "clear", "Clear filters"),
        Binding("ctrl+s", "submit", "Apply"),
    ]

    def __init__(self, client: ApiClient, view: UserView) -> None:
        fields = [
            FormField(name, LABELS[name], view.filters.get(name, "")) for name in USER_FILTERS
        ]

        async def check(values: dict[str, str]) -> dict[str, str]:
            filters = {name: value.strip() for name, value in values.items() if value.strip()}
            # The API is the judge of a value: its count answers 422 naming the parameter.
            await client.count_users(replace(view, filters=filters))
            return filters

        super().__init__("Filter users (escape clears them all)", fields, check)

    def action_clear(self) -> None:
        self.dismiss({})
