"""Seed data worth browsing: realistic users and posts, deterministic for a given seed.

Faker makes pools of names, domains, titles and paragraphs once, and 65,536 post bodies
are put together from the paragraphs (lengths as people write them), all encoded once as
binary COPY fields. Rows are then drawn a chunk at a time, every pick of a chunk from one
`randbytes` call of a generator seeded from the seed and the chunk's number, and laid out
as COPY data by list slicing, not a Python loop per field. A worker thread builds the next
chunk while the current one streams to PostgreSQL.

Everything goes in ONE transaction: a seed lands whole or not at all, and it appends (ids
and emails continue after what is there), so running it twice is safe. When the seed adds
at least as many rows as the tables hold, it holds them exclusively, drops their indexes
and foreign keys, and builds them once at the end (as `pgbench -i` does); otherwise it
lets readers through and PostgreSQL maintains the indexes row by row.
"""

from __future__ import annotations

import asyncio
import math
import random
import struct
import sys
import time
from array import array
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from typing import TypeVar

from faker import Faker
from sqlalchemy.ext.asyncio import AsyncSession

from stackdeck.backend.db.errors import UNIQUE_VIOLATION, sqlstate
from stackdeck.backend.db.models.post import BODY_MAX
from stackdeck.backend.errors import Conflict
from stackdeck.backend.repositories.bulk import BulkRepository, text_field, text_field_bytes
from stackdeck.backend.services.unit_of_work import Outcome, UnitOfWork

# Rows per chunk (and per random generator). Part of what a seed means: changing it
# changes the data a given --seed makes.
CHUNK_ROWS = 20_000

# Every pool is drawn from through a table of this many entries: one 16-bit draw each.
_DRAWS = 1 << 16
_T = TypeVar("_T")

# Paragraphs per post: 1 + an exponential's whole part, at most 40. Mostly short posts,
# some long ones: lengths as people write them.
_PARAGRAPH_RATE = 0.7
_MAX_PARAGRAPHS = 40
_PARAGRAPH_COUNTS = list(range(1, _MAX_PARAGRAPHS + 1))
_PARAGRAPH_CUMULATIVE = [
    1 - math.exp(-_PARAGRAPH_RATE * count) for count in range(1, _MAX_PARAGRAPHS)
] + [1.0]
_PARAGRAPH_SEPARATOR = b"\n\n"

# Binary COPY rows, packed in one call each: (field count, id's length, id, name's length)
# for users, (field count, user_id's length, user_id) for posts; a user's post_count last.
_USER_HEAD = struct.Struct(">hiqi")
_POST_HEAD = struct.Struct(">hiq")
_LENGTH = struct.Struct(">i")
_BIGINT = struct.Struct(">iq")


@dataclass
class SeedResult:
    users: int
    posts: int
    first_user_id: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return (self.users + self.posts) / self.seconds if self.seconds else 0.0


class _Names:
    """Faker's first names, last names and email domains, encoded for COPY, as draw tables.

    Each table has 65,536 entries (every pool item equally often), so one 16-bit random
    number picks an entry and a whole chunk's picks come from one `randbytes` call.
    """

    def __init__(self, seed: int) -> None:
        fake = Faker()
        fake.seed_instance(seed)
        first = [fake.first_name() for _ in range(512)]
        last = [fake.last_name() for _ in range(512)]
        domains = [fake.free_email_domain() for _ in range(32)]
        # (as shown in the name, as in the email); last names carry the space before them.
        self.first = _table([(f.encode(), f.lower().encode()) for f in first])
        self.last = _table([((" " + name).encode(), name.lower().encode()) for name in last])
        self.domains = _table([f"@{d.lower()}".encode() for d in domains])


class _Texts:
    """Faker's titles, and bodies put together from its paragraphs: draw tables too.

    The costlier pools, so they are made while the users stream in.
    """

    def __init__(self, seed: int) -> None:
        fake = Faker()
        fake.seed_instance(seed)
        titles = [fake.sentence(nb_words=6).rstrip(".") for _ in range(2_048)]
        paragraphs = [fake.paragraph(nb_sentences=5).encode() for _ in range(2_048)]
        self.titles = _table([text_field(t) for t in titles])
        self.bodies = _bodies(random.Random(f"stackdeck-seed:{seed}:bodies"), paragraphs)


def _table(pool: list[_T]) -> list[_T]:
    assert _DRAWS % len(pool) == 0, len(pool)
    return pool * (_DRAWS // len(pool))


def _bodies(rng: random.Random, paragraphs: list[bytes]) -> list[bytes]:
    """65,536 post bodies of 1 to 40 paragraphs each, as binary COPY fields."""
    counts = rng.choices(_PARAGRAPH_COUNTS, cum_weights=_PARAGRAPH_CUMULATIVE, k=_DRAWS)
    bodies = [_PARAGRAPH_SEPARATOR.join(rng.choices(paragraphs, k=count)) for count in counts]
    # Bodies are never cut: the longest one a draw can make fits the column.
    assert max(map(len, bodies)) <= BODY_MAX
    return [text_field_bytes(body) for body in bodies]


def _draw(rng: random.Random, table: list[_T], n: int) -> list[_T]:
    """`n` entries of a 65,536-entry table, drawn uniformly."""
    picks = array("H", rng.randbytes(2 * n))
    if sys.byteorder == "big":
        picks.byteswap()  # the same draws on every machine
    return list(map(table.__getitem__, picks))


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
        stage: Callable[[str], None] = lambda what: None,
    ) -> SeedResult:
        """Seed; `progress` hears of every chunk of rows sent, `stage` of what runs after."""
        started = time.perf_counter()
        posts = users * posts_per_user
        # Two threads: one makes the post texts while the other makes chunks of users.
        with ThreadPoolExecutor(2, thread_name_prefix="seed-rows") as worker:
            loop = asyncio.get_running_loop()
            names = loop.run_in_executor(worker, _Names, seed)
            texts = loop.run_in_executor(worker, _Texts, seed)

            async def work(outcome: Outcome) -> int:
                # Decided before locking: holding readers out only pays when it is cheaper to
                # build the indexes again than to maintain them for every row added.
                rebuild = await self.bulk.approximate_rows() <= users + posts
                await self.bulk.lock_tables(exclusive=rebuild)
                first_id = await self.bulk.reserve_user_ids(users)
                outcome.entity_id = first_id
                suspended = await self.bulk.suspend_indexes() if rebuild else None
                # Into empty tables the rows go in frozen: nothing is left for later readers.
                freeze = rebuild and await self.bulk.are_empty()
                if freeze:
                    await self.bulk.truncate_empty_tables()
                rows = _Rows(seed, first_id, await names)
                await self.bulk.count_posts_ourselves()
                try:
                    await self.bulk.copy_users(
                        _ahead(worker, rows.user_chunks(users, posts_per_user), progress),
                        freeze=freeze,
                    )
                    rows.texts = await texts
                    await self.bulk.copy_posts(
                        _ahead(worker, rows.post_chunks(users, posts_per_user), progress),
                        freeze=freeze,
                    )
                    if suspended is not None:
                        stage("building indexes")  # every row is in: seconds at a million
                        await self.bulk.rebuild_indexes(suspended)
                    await self.bulk.analyze()
                except Exception as exc:
                    # Seeded emails carry their user's id, so only an address someone
                    # entered by hand in that shape can collide.
                    if sqlstate(exc) == UNIQUE_VIOLATION:
                        raise Conflict("an email the seed made exists already") from exc
                    raise
                return first_id

            first_id = await self.uow.write("users.seed", "user", work, int)
        return SeedResult(users, posts, first_id, time.perf_counter() - started)


class _Rows:
    """The seed's rows as chunks of binary COPY data, each chunk from its own generator."""

    texts: _Texts  # set once made: the users do not wait for them

    def __init__(self, seed: int, first_id: int, names: _Names) -> None:
        self.seed, self.first_id, self.names = seed, first_id, names

    def _random(self, table: str, chunk: int) -> random.Random:
        # A string seed is hashed the same way in every process (no PYTHONHASHSEED).
        return random.Random(f"stackdeck-seed:{self.seed}:{table}:{chunk}")

    def user_chunks(self, count: int, posts_per_user: int) -> Iterator[tuple[int, bytes]]:
        post_count = _BIGINT.pack(8, posts_per_user)  # every seeded user has as many posts
        for chunk, start in enumerate(range(0, count, CHUNK_ROWS)):
            n = min(CHUNK_ROWS, count - start)
            rng = self._random("users", chunk)
            yield n, self._users(rng, self.first_id + start, n, post_count)

    def _users(self, rng: random.Random, first_id: int, n: int, post_count: bytes) -> bytes:
        names = self.names
        head, length = _USER_HEAD.pack, _LENGTH.pack
        rows = []
        for user_id, (first, first_lower), (last, last_lower), domain in zip(
            range(first_id, first_id + n),
            _draw(rng, names.first, n),
            _draw(rng, names.last, n),
            _draw(rng, names.domains, n),
            strict=True,
        ):
            name = first + last
            # The id in the address keeps every email unique, however often the seed runs.
            email = b"%s.%s.%d%s" % (first_lower, last_lower, user_id, domain)
            rows.append(
                b"".join(
                    (head(4, 8, user_id, len(name)), name, length(len(email)), email, post_count)
                )
            )
        return b"".join(rows)

    def post_chunks(self, users: int, per_user: int) -> Iterator[tuple[int, bytes]]:
        if per_user == 0:
            return
        users_per_chunk = max(1, CHUNK_ROWS // per_user)
        for chunk, start in enumerate(range(0, users, users_per_chunk)):
            n = min(users_per_chunk, users - start)
            rng = self._random("posts", chunk)
            yield n * per_user, self._posts(rng, self.first_id + start, n, per_user)

    def _posts(self, rng: random.Random, first_id: int, users: int, per_user: int) -> bytes:
        """Rows of (user_id, title, body): three fields a post, laid out by slices."""
        n = users * per_user
        fields: list[bytes] = [b""] * (3 * n)
        user_ids = range(first_id, first_id + users)
        heads = list(map(_POST_HEAD.pack, repeat(3, users), repeat(8, users), user_ids))
        for k in range(per_user):  # the k-th post of every user
            fields[3 * k :: 3 * per_user] = heads
        fields[1::3] = _draw(rng, self.texts.titles, n)
        fields[2::3] = _draw(rng, self.texts.bodies, n)
        return b"".join(fields)


async def _ahead(
    worker: ThreadPoolExecutor,
    chunks: Iterator[tuple[int, bytes]],
    progress: Callable[[int], None],
) -> AsyncIterator[bytes]:
    """The chunks, each built in the worker while the one before it is sent."""
    loop = asyncio.get_running_loop()
    done = object()
    following = loop.run_in_executor(worker, next, chunks, done)
    while True:
        item = await following
        if item is done:
            return
        following = loop.run_in_executor(worker, next, chunks, done)
        assert isinstance(item, tuple)
        rows, data = item
        yield data
        progress(rows)
