"""Test data through the product's own batch path (POST /users/batch)."""

from __future__ import annotations

import httpx


def seed_users(api_url: str, count: int, posts_each: int = 0, prefix: str = "user") -> list[int]:
    ids: list[int] = []
    for start in range(0, count, 1000):
        users = [
            {
                "name": f"{prefix.title()} {n:04d}",
                "email": f"{prefix}{n:04d}@example.com",
                "posts": [
                    {"title": f"Post {k} of {prefix} {n}", "body": f"Body {k}.\nSecond line."}
                    for k in range(posts_each)
                ],
            }
            for n in range(start, min(count, start + 1000))
        ]
        response = httpx.post(f"{api_url}/users/batch", json={"users": users}, timeout=30)
        response.raise_for_status()
        ids.extend(response.json()["user_ids"])
    return ids
