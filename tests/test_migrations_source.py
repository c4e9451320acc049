"""GET /migrations/{revision}/source: a revision file's text, for the console's review."""

from __future__ import annotations

import httpx

from tests.migrations import HEAD


async def test_a_revisions_source_is_its_file_and_an_unknown_one_is_404(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get(f"/migrations/{HEAD}/source")
    assert answer.status_code == 200
    body = answer.json()
    assert body["revision"] == HEAD and body["filename"].endswith(f"{HEAD}.py")
    assert f'"{HEAD}"' in body["source"] and "def downgrade" in body["source"]
    missing = await client.get("/migrations/no_such_rev/source")
    assert missing.status_code == 404
    assert "no_such_rev" in missing.json()["detail"]
