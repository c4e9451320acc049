"""Seed data worth browsing: realistic users and posts, deterministic for a given seed.

Faker makes pools of names, words and sentences once; rows are drawn from the pools with
a seeded random generator, which is what makes millions of rows fast. Rows go in with
COPY, in batches, inside ONE transaction: a seed lands whole or not at all, and it appends
(ids and emails continue after what is there), so running it twice is safe.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from faker import Faker
from sqlalchemy.ext.asyncio import AsyncSession

from backend.repositories.bulk import BulkRepository
from backend.services.unit_of_work import UnitOfWork

BATCH = 20_000


@dataclass
class SeedResult:
    users: int
    posts: int
    first_user_id: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return (self.users + self.posts) / self.seconds if self.seconds else 0.0


class _Pools:
    def __init__(self, seed: int) -> None:
        fake = Faker()
        fake.seed_instance(seed)
        self.first = [fake.first_name() for _ in range(500)]
        self.last = [fake.last_name() for _ in range(500)]
        self.domains = [fake.free_email_domain() for _ in range(20)]
        self.titles = [fake.sentence(nb_words=6).rstrip(".") for _ in range(2_000)]
        self.paragraphs = [fake.paragraph(nb_sentences=5) for _ in range(2_000)]


class SeedService:
    def __init__(self, session: AsyncSession) -> None:
        self.uow = UnitOfWork(session)
        self.bulk = BulkRepository(session)

    async def seed(
        self,
        users: int,
        posts_per_user: int,
        seed: int = 0,
        progress: Callable[[int], None] = lambda rows: None,
    ) -> SeedResult:
        started = time.perf_counter()
        pools = _Pools(seed)
        rng = random.Random(seed)
        async with self.uow.write("users.seed", "user") as outcome:
            first_id = await self.bulk.reserve_user_ids(users)
            outcome.entity_id = first_id
            for batch in _batches(_user_rows(pools, rng, first_id, users)):
                await self.bulk.copy_users(batch)
                progress(len(batch))
            for batch in _batches(_post_rows(pools, rng, first_id, users, posts_per_user)):
                await self.bulk.copy_posts(batch)
                progress(len(batch))
        return SeedResult(users, users * posts_per_user, first_id, time.perf_counter() - started)


def _user_rows(
    pools: _Pools, rng: random.Random, first_id: int, count: int
) -> Iterator[tuple[object, ...]]:
    for user_id in range(first_id, first_id + count):
        first, last = rng.choice(pools.first), rng.choice(pools.last)
        # The id in the address keeps every email unique, however often the seed runs.
        email = f"{first}.{last}.{user_id}@{rng.choice(pools.domains)}".lower()
        yield (user_id, f"{first} {last}", email)


def _post_rows(
    pools: _Pools, rng: random.Random, first_id: int, users: int, per_user: int
) -> Iterator[tuple[object, ...]]:
    for user_id in range(first_id, first_id + users):
        for _ in range(per_user):
            # Mostly short posts, some long ones: lengths as people write them.
            paragraphs = min(40, int(rng.expovariate(0.7)) + 1)
            body = "\n\n".join(rng.choice(pools.paragraphs) for _ in range(paragraphs))
            yield (user_id, rng.choice(pools.titles), body[:50_000])


def _batches(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
