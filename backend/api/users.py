"""/users: keyset-paginated list, read with posts, create, update, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, TypeAdapter

from stackdeck.backend.api.deps import UserQueriesDep, UsersServiceDep
from stackdeck.backend.api.problems import CONFLICT, PROBLEM_RESPONSES
from stackdeck.backend.schemas.common import Page
from stackdeck.backend.schemas.transactions import BatchResult, UserBatch
from stackdeck.backend.schemas.types import MAX_BIGINT, Text
from stackdeck.backend.schemas.users import UserCreate, UserRead, UserUpdate, UserWithPosts

router = APIRouter(prefix="/users", tags=["users"], responses=PROBLEM_RESPONSES)

UserId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="the user's id")]


# One adapter a shape: serialising through the union would try each member first.
_PAGE_WITH_POSTS = TypeAdapter(Page[UserWithPosts])
_PAGE = TypeAdapter(Page[UserRead])
_USER = TypeAdapter(UserWithPosts)


def _json(content: bytes) -> Response:
    # Read paths hand FastAPI finished bytes: the schemas were validated when they were
    # built from the rows, so nothing is validated or converted a second time.
    return Response(content, media_type="application/json")


@router.get(
    "",
    response_model=Page[UserWithPosts] | Page[UserRead],
    summary="A page of users, by id (keyset: pass `next` as `after`)",
)
async def list_users(
    users: UserQueriesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[int | None, Query(ge=0, le=MAX_BIGINT, description="cursor")] = None,
    q: Annotated[Text | None, Query(max_length=200, description="name or email contains")] = None,
    embed: Annotated[Literal["posts"] | None, Query(description="`posts` adds posts")] = None,
    order: Annotated[
        Literal["asc", "desc"], Query(description="`desc` starts from the newest user")
    ] = "asc",
) -> Response:
    if embed == "posts":
        with_posts, next_cursor = await users.page_with_posts(
            after, limit, q, descending=order == "desc"
        )
        page = Page[UserWithPosts](items=with_posts, next=next_cursor)
        return _json(_PAGE_WITH_POSTS.dump_json(page))
    items, next_cursor = await users.page(after, limit, q, descending=order == "desc")
    return _json(_PAGE.dump_json(Page[UserRead](items=items, next=next_cursor)))


class UserCount(BaseModel):
    total: int


@router.get("/count", summary="How many users there are (matching `q`, if given)")
async def count_users(
    users: UserQueriesDep,
    q: Annotated[Text | None, Query(max_length=200, description="name or email contains")] = None,
) -> UserCount:
    return UserCount(total=await users.count(q))


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
