"""The X-ray in the console: a request's statements and warnings, a statement's plan, and a
transaction's statements with the rows it changed as a diff.

Each screen fetches its answer in a worker (the console never waits on the network) and shows
a readable line if the backend cannot answer (an unknown request id, the X-ray off).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, OptionList, Static, Tree
from textual.widgets.option_list import Option

from stackdeck.tui.client import ApiClient, ApiError
from stackdeck.tui.widgets.cells import cell, when
from stackdeck.tui.widgets.pane import describe

if TYPE_CHECKING:
    from stackdeck.tui.xray_records import RowChange, Statement, StatementPlan, TransactionDetail

SQL_WIDTH = 160  # characters of a statement shown in its row; the plan screen shows it whole


def one_line(sql: str, width: int = SQL_WIDTH) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _statements_table(table_id: str) -> DataTable[Any]:
    table: DataTable[Any] = DataTable(id=table_id, cursor_type="row", zebra_stripes=True)
    # Fixed widths: a refill (another answer) lines up with the first.
    for name, width in (("#", 3), ("ms", 8), ("rows", 6)):
        table.add_column(name, key=name, width=width)
    table.add_column("sql", key="sql")
    return table


def _fill_statements(table: DataTable[Any], statements: list[Statement]) -> None:
    table.clear()
    table.add_rows(
        (
            cell(n),
            cell(f"{s.duration_ms:.2f}"),
            cell("" if s.rows is None else s.rows),
            cell(one_line(s.sql)),
        )
        for n, s in enumerate(statements)
    )


class _XrayScreen(ModalScreen[None]):
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, client: ApiClient) -> None:
        super().__init__()
        self.client = client
        self.statements: list[Statement] = []

    def show_statements(self, statements: list[Statement]) -> None:
        self.statements = statements
        _fill_statements(self.query_one("#xray-statements", DataTable), statements)

    @on(DataTable.RowHighlighted, "#xray-statements")
    def _statement_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The statement under the cursor, whole (its row shows the start of it)."""
        row = event.cursor_row
        if 0 <= row < len(self.statements):
            self.query_one("#xray-sql", Static).update(" ".join(self.statements[row].sql.split()))

    def failed(self, error: ApiError) -> None:
        self.query_one("#xray-state", Static).update(describe(error))
        self.query_one("#xray-state", Static).add_class("-error")


class RequestTraceScreen(_XrayScreen):
    """One request's statements (in order, with durations and rows) and its warnings; `e`
    on a statement shows its plan."""

    BINDINGS = [Binding("e", "plan", "Plan", id="statement_plan")]

    def __init__(self, client: ApiClient, request_id: str) -> None:
        super().__init__(client)
        self.request_id = request_id

    def compose(self) -> ComposeResult:
        with Vertical(id="xray-dialog"):
            yield Label(f"Request {self.request_id}", id="xray-title", markup=False)
            yield Static("loading…", id="xray-state", markup=False)
            yield Static("", id="xray-warnings", markup=False)
            yield _statements_table("xray-statements")
            yield Static("", id="xray-sql", markup=False)

    def on_mount(self) -> None:
        self.query_one("#xray-warnings").display = False
        self.query_one("#xray-statements").focus()
        self.load()

    @work(exclusive=True, group="xray-request")
    async def load(self) -> None:
        try:
            trace = await self.client.request_trace(self.request_id)
        except ApiError as error:
            self.failed(error)
            return
        self.query_one("#xray-title", Label).update(
            f"{trace.method} {trace.path} · {trace.status} · {trace.duration_ms:.1f} ms · "
            f"{len(trace.statements)} statements · {trace.request_id}"
        )
        noun = "statement" if len(trace.statements) == 1 else "statements"
        self.query_one("#xray-state", Static).update(
            f"{len(trace.statements)} SQL {noun} at {when(trace.at.isoformat(), seconds=True)}"
            " — e on one shows its plan"
        )
        if trace.warnings:
            warnings = self.query_one("#xray-warnings", Static)
            lines = Text()
            for warning in trace.warnings:
                if lines:
                    lines.append("\n")
                lines.append(f"⚠ {warning.code.replace('_', ' ').upper()} ×{warning.count}: ")
                lines.append(one_line(warning.sql, 120))
            warnings.update(lines)
            warnings.display = True
        self.show_statements(trace.statements)

    def action_plan(self) -> None:
        row = self.query_one("#xray-statements", DataTable).cursor_row
        if 0 <= row < len(self.statements):
            self.app.push_screen(PlanScreen(self.client, self.request_id, row))


def plan_label(node: dict[str, Any]) -> Text:
    """One plan node: its type, what it reads (relation, index), and the planner's estimates."""
    label = Text(str(node.get("Node Type", "?")), style="bold")
    if join := node.get("Join Type"):
        label.append(f" ({join})")
    if relation := node.get("Relation Name"):
        label.append(f" on {relation}")
        if (alias := node.get("Alias")) and alias != relation:
            label.append(f" {alias}")
    if index := node.get("Index Name"):
        label.append(f" using {index}")
    startup, total = node.get("Startup Cost"), node.get("Total Cost")
    label.append(f"  cost={startup}..{total} rows={node.get('Plan Rows')}", style="dim")
    for key in ("Index Cond", "Filter", "Hash Cond", "Sort Key"):
        if value := node.get(key):
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            label.append(f"  {key.lower()}: {shown}", style="italic")
    return label


class PlanScreen(_XrayScreen):
    """A statement's generic plan (EXPLAIN (GENERIC_PLAN, FORMAT JSON)) as an indented tree."""

    def __init__(self, client: ApiClient, request_id: str, index: int) -> None:
        super().__init__(client)
        self.request_id = request_id
        self.index = index
        self.plan: StatementPlan | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="xray-dialog"):
            yield Label(f"Plan of statement {self.index}", id="xray-title", markup=False)
            yield Static("planning…", id="xray-state", markup=False)
            tree: Tree[dict[str, Any]] = Tree("plan", id="xray-plan")
            tree.show_root = False
            yield tree

    def on_mount(self) -> None:
        self.query_one("#xray-plan").focus()
        self.load()

    @work(exclusive=True, group="xray-plan")
    async def load(self) -> None:
        try:
            self.plan = await self.client.statement_plan(self.request_id, self.index)
        except ApiError as error:
            self.failed(error)
            return
        try:
            top = self.plan.plan[0]["Plan"]
        except (IndexError, KeyError, TypeError):
            self.failed(ApiError(502, "Unexpected answer", "the plan is not EXPLAIN's JSON"))
            return
        self.query_one("#xray-state", Static).update(one_line(self.plan.sql, 400))
        tree = self.query_one("#xray-plan", Tree)

        def add(parent: Any, node: dict[str, Any]) -> None:
            children = node.get("Plans") or []
            branch = parent.add(plan_label(node), data=node, expand=True, allow_expand=True)
            if not children:
                branch.allow_expand = False
            for child in children:
                add(branch, child)

        add(tree.root, top)
        tree.root.expand_all()

    def lines(self) -> list[str]:
        """The tree as indented text, as drawn (for tests and for reading)."""
        out: list[str] = []

        def walk(node: Any, depth: int) -> None:
            for child in node.children:
                out.append("  " * depth + child.label.plain)
                walk(child, depth + 1)

        walk(self.query_one("#xray-plan", Tree).root, 0)
        return out


def diff_lines(change: RowChange, ok: str, bad: str) -> Text:
    """One change as a diff: a header, then `- before` / `+ after` per column (an insert all
    `+`, a delete all `-`)."""
    text = Text()
    text.append(f"{change.op.upper():<6} {change.table} #{change.id}", style="bold")
    before, after = change.before or {}, change.after or {}
    for column in dict.fromkeys([*before, *after]):
        if column in before:
            text.append(f"\n  - {column}: {_value(before[column])}", style=bad)
        if column in after:
            text.append(f"\n  + {column}: {_value(after[column])}", style=ok)
    return text


def _value(value: object) -> str:
    return "null" if value is None else repr(value) if isinstance(value, str) else str(value)


class TransactionScreen(_XrayScreen):
    """A logged transaction: the statements it ran and each row it changed, as a diff; `g`
    on a change jumps to that row in the users or posts pane."""

    BINDINGS = [Binding("g", "jump", "Go to row", id="jump_to_row")]

    class ShowRow(Message):
        """Show this row in its pane (the app routes it: users → reveal, posts → its user's)."""

        def __init__(self, change: RowChange) -> None:
            super().__init__()
            self.change = change

    def __init__(self, client: ApiClient, transaction_id: int) -> None:
        super().__init__(client)
        self.transaction_id = transaction_id
        self.detail: TransactionDetail | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="xray-dialog"):
            yield Label(f"Transaction #{self.transaction_id}", id="xray-title", markup=False)
            yield Static("loading…", id="xray-state", markup=False)
            yield _statements_table("xray-statements")
            yield Static("", id="xray-sql", markup=False)
            yield Label("changes", classes="xray-heading")
            yield OptionList(id="xray-changes")

    def on_mount(self) -> None:
        self.query_one("#xray-changes").focus()
        self.load()

    @work(exclusive=True, group="xray-transaction")
    async def load(self) -> None:
        try:
            detail = await self.client.transaction_detail(self.transaction_id)
        except ApiError as error:
            self.failed(error)
            return
        self.show(detail)

    def show(self, detail: TransactionDetail) -> None:
        self.detail = detail
        outcome = "committed" if detail.outcome == "committed" else "rolled back"
        reason = f": {detail.reason}" if detail.reason else ""
        entity = f" · {detail.entity} #{detail.entity_id}" if detail.entity_id else ""
        self.query_one("#xray-title", Label).update(
            f"Transaction #{detail.id} · {detail.operation}{entity} · {outcome}{reason} · "
            f"{detail.duration_ms:.1f} ms · {when(detail.occurred_at.isoformat(), seconds=True)}"
        )
        if detail.statements is None:
            state = "recorded with the X-ray off: no statements or changes"
        elif not detail.changes:
            state = f"{len(detail.statements)} statements; no row changed" + (
                " (rolled back)" if detail.outcome != "committed" else ""
            )
        else:
            rows = "1 row" if len(detail.changes) == 1 else f"{len(detail.changes)} rows"
            state = f"{len(detail.statements)} statements; {rows} changed"
            state += " — g on a change goes to its row"
        self.query_one("#xray-state", Static).update(state)
        self.show_statements(detail.statements or [])
        variables = self.app.get_css_variables()
        ok, bad = variables.get("success", "green"), variables.get("error", "red")
        changes = self.query_one("#xray-changes", OptionList)
        changes.clear_options()
        changes.add_options(
            Option(diff_lines(change, ok, bad), id=str(n))
            for n, change in enumerate(detail.changes or [])
        )
        if detail.changes:
            changes.highlighted = 0

    def current_change(self) -> RowChange | None:
        index = self.query_one("#xray-changes", OptionList).highlighted
        changes = self.detail.changes if self.detail else None
        return changes[index] if changes and index is not None else None

    def action_jump(self) -> None:
        change = self.current_change()
        if change is None:
            return
        if change.op == "delete":
            self.notify(f"{change.table} #{change.id} was deleted by this transaction")
            return
        self.post_message(self.ShowRow(change))

    @on(OptionList.OptionSelected, "#xray-changes")
    def _selected(self) -> None:
        self.action_jump()
