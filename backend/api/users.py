"""/users: keyset pages in any order with filters, a count, an export; read with posts,
create, update, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, TypeAdapter
from starlette.responses import StreamingResponse

from stackdeck.backend.api import API_PREFIX
from stackdeck.backend.api.deps import UserQueriesDep, UsersServiceDep
from stackdeck.backend.api.exports import (
    FormatQuery,
    csv_file,
    export_response,
    export_responses,
    json_file,
    primed,
)
from stackdeck.backend.api.paging import (
    AfterQuery,
    CursorQuery,
    next_of,
    prev_of,
    sort_of,
    start_of,
)
from stackdeck.backend.api.problems import CONFLICT, PROBLEM_RESPONSES
from stackdeck.backend.schemas.common import SortedPage
from stackdeck.backend.schemas.transactions import BatchResult, UserBatch
from stackdeck.backend.schemas.types import MAX_BIGINT
from stackdeck.backend.schemas.users import (
    KEY_KINDS,
    USER_FIELDS,
    UserCreate,
    UserFilters,
    UserRead,
    UserSortParam,
    UserUpdate,
    UserWithPosts,
)

router = APIRouter(prefix=f"{API_PREFIX}/users", tags=["users"], responses=PROBLEM_RESPONSES)

UserId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="the user's id")]


# One adapter a shape: serialising through the union would try each member first.
_PAGE_WITH_POSTS = TypeAdapter(SortedPage[UserWithPosts])
_PAGE = TypeAdapter(SortedPage[UserRead])
_USER = TypeAdapter(UserWithPosts)


def _json(content: bytes) -> Response:
    # Read paths hand FastAPI finished bytes: the schemas were validated when they were
    # built from the rows, so nothing is validated or converted a second time.
    return Response(content, media_type="application/json")


SortQuery = Annotated[
    UserSortParam,
    Query(description="the column to sort by; a leading `-` sorts descending; ties by id"),
]
OrderQuery = Annotated[
    Literal["asc", "desc"],
    Query(description="`desc` is the same as a leading `-` on `sort` (newest first by id)"),
]
FiltersQuery = Annotated[UserFilters, Query()]


@router.get(
    "",
    response_model=SortedPage[UserWithPosts] | SortedPage[UserRead],
    summary="A keyset page of users, sorted and filtered (pass `next` or `prev` as `cursor`)",
)
async def list_users(
    users: UserQueriesDep,
    filters: FiltersQuery,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: AfterQuery = None,
    cursor_: CursorQuery = None,
    sort: SortQuery = "id",
    order: OrderQuery = "asc",
    embed: Annotated[Literal["posts"] | None, Query(description="`posts` adds posts")] = None,
) -> Response:
    by = sort_of(sort, order)
    start = start_of(by, after, cursor_, KEY_KINDS)
    if embed == "posts":
        with_posts, edges = await users.page_with_posts(by, filters, start, limit)
        page = SortedPage[UserWithPosts](
            items=with_posts, next=next_of(by, edges.next), prev=prev_of(by, edges.prev)
        )
        return _json(_PAGE_WITH_POSTS.dump_json(page))
    items, edges = await users.page(by, filters, start, limit)
    return _json(
        _PAGE.dump_json(
            SortedPage[UserRead](
                items=items, next=next_of(by, edges.next), prev=prev_of(by, edges.prev)
            )
        )
    )


class UserCount(BaseModel):
    total: int


@router.get("/count", summary="How many users match the filters (all of them, with none)")
async def count_users(users: UserQueriesDep, filters: FiltersQuery) -> UserCount:
    return UserCount(total=await users.count(filters))


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses=export_responses("user"),
    summary="Every matching user, sorted, streamed as CSV, NDJSON or a JSON array",
)
async def export_users(
    users: UserQueriesDep,
    filters: FiltersQuery,
    export_format: FormatQuery = "csv",
    sort: SortQuery = "id",
    order: OrderQuery = "asc",
) -> StreamingResponse:
    by = sort_of(sort, order)
    if export_format == "csv":
        body = csv_file(USER_FIELDS, await primed(users.export_csv(by, filters)))
    else:
        body = json_file(export_format, USER_FIELDS, await primed(users.export(by, filters)))
    return export_response("users", export_format, body)


@router.get("/{user_id}", response_model=UserWithPosts, summary="One user with their posts")
async def get_user(user_id: UserId, users: UserQueriesDep) -> Response:
    return _json(_USER.dump_json(await users.get(user_id)))


@router.post("", status_code=status.HTTP_201_CREATED, responses=CONFLICT, summary="Create a user")
async def create_user(data: UserCreate, users: UsersServiceDep, response: Response) -> UserRead:
    user = await users.create(data)
    response.headers["Location"] = f"/api/v1/users/{user.id}"
    return user


@router.post(
    "/batch",
    status_code=status.HTTP_201_CREATED,
    responses=CONFLICT,
    summary="Create up to 1,000 users (with posts) in one transaction: all or nothing",
)
async def create_users_batch(batch: UserBatch, users: UsersServiceDep) -> BatchResult:
    return await users.create_batch(batch)


@router.patch("/{user_id}", responses=CONFLICT, summary="Change a user's name or email")
async def update_user(user_id: UserId, data: UserUpdate, users: UsersServiceDep) -> UserRead:
    return await users.update(user_id, data)


@router.delete(
    "/{user_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a user and their posts"
)
async def delete_user(user_id: UserId, users: UsersServiceDep) -> None:
    await users.delete(user_id)
