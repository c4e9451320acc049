"""The peers benchmark's assumptions about URLs and screens (benchmarks/tui_peers.py)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.tui_peers import DATA_ROW, PEERS, Target

SOCKET_URL = "postgresql+asyncpg://postgres:@/sdt_1?host=%2Ftmp%2Fbench-x%2Fpgdata"


def test_a_unix_socket_url_keeps_its_socket_directory_for_every_tool() -> None:
    target = Target.from_url(SOCKET_URL)
    assert (target.host, target.port, target.database) == ("/tmp/bench-x/pgdata", 5432, "sdt_1")
    assert target.libpq_url.startswith("postgresql://postgres@/sdt_1?host=")
    sqlit = next(p for p in PEERS if p.name == "sqlit-tui")
    assert "--server=/tmp/bench-x/pgdata" in sqlit.argv(Path("/venv/bin"), target)


def test_a_password_reaches_the_peers_through_a_password_file_not_argv(tmp_path: Path) -> None:
    target = Target.from_url("postgresql://app:s:cr%5Cet@db.example:6543/stackdeck")
    assert (target.host, target.port, target.user) == ("db.example", 6543, "app")
    assert "s:cr" not in target.libpq_url
    for peer in PEERS:
        assert not any("s:cr" in arg for arg in peer.argv(Path("/venv/bin"), target))
    env = target.pgpass(tmp_path)
    assert Path(env["PGPASSFILE"]).read_text() == "*:*:*:app:s\\:cr\\\\et\n"
    assert Path(env["PGPASSFILE"]).stat().st_mode & 0o077 == 0


def test_first_rows_are_told_by_an_email_not_by_stackdecks_masked_banner() -> None:
    banner = (
        " ⭘  stackdeck — http://127.0.0.1:36371/api/v1 · "
        "postgresql+asyncpg://postgres:***@/sdt_1?host=%2Ftmp%2F…"
    )
    assert DATA_ROW.search(banner) is None
    assert DATA_ROW.search("│ 1    Antonio Miller   antonio.miller.1@gmail.com   1 │")
