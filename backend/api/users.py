"""/users: keyset-paginated list, read with posts, create, update, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel

from backend.api.deps import UsersServiceDep
from backend.api.problems import CONFLICT, PROBLEM_RESPONSES
from backend.schemas.common import Page
from backend.schemas.transactions import BatchResult, UserBatch
from backend.schemas.types import MAX_BIGINT, Text
from backend.schemas.users import UserCreate, UserRead, UserUpdate, UserWithPosts

router = APIRouter(prefix="/users", tags=["users"], responses=PROBLEM_RESPONSES)

UserId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="the user's id")]


@router.get("", summary="A page of users, by id (keyset: pass `next` as `after`)")
async def list_users(
    users: UsersServiceDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[int | None, Query(ge=0, le=MAX_BIGINT, description="cursor")] = None,
    q: Annotated[Text | None, Query(max_length=200, description="name or email contains")] = None,
    embed: Annotated[Literal["posts"] | None, Query(description="`posts` adds posts")] = None,
    order: Annotated[
        Literal["asc", "desc"], Query(description="`desc` starts from the newest user")
    ] = "asc",
) -> Page[UserWithPosts] | Page[UserRead]:
    rows, next_cursor = await users.page(
        after, limit, q, embed_posts=embed == "posts", descending=order == "desc"
    )
    if embed == "posts":
        return Page[UserWithPosts](
            items=[UserWithPosts.model_validate(u) for u in rows], next=next_cursor
        )
    return Page[UserRead](items=[UserRead.model_validate(u) for u in rows], next=next_cursor)


class UserCount(BaseModel):
    total: int


@router.get("/count", summary="How many users there are (matching `q`, if given)")
async def count_users(
    users: UsersServiceDep,
    q: Annotated[Text | None, Query(max_length=200, description="name or email contains")] = None,
) -> UserCount:
    return UserCount(total=await users.count(q))


@router.get("/{user_id}", summary="One user with their posts")
async def get_user(user_id: UserId, users: UsersServiceDep) -> UserWithPosts:
    return UserWithPosts.model_validate(await users.get(user_id))


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
    return UserRead.model_validate(await users.update(user_id, data))


@router.delete(
    "/{user_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a user and their posts"
)
async def delete_user(user_id: UserId, users: UsersServiceDep) -> None:
    await users.delete(user_id)
