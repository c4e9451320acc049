"""/posts: keyset-paginated list, read, create, update, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from stackdeck.backend.api.deps import PostQueriesDep, PostsServiceDep
from stackdeck.backend.api.problems import PROBLEM_RESPONSES
from stackdeck.backend.schemas.common import Page
from stackdeck.backend.schemas.posts import PostCreate, PostRead, PostUpdate
from stackdeck.backend.schemas.types import MAX_BIGINT

router = APIRouter(prefix="/posts", tags=["posts"], responses=PROBLEM_RESPONSES)

PostId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="the post's id")]


@router.get("", summary="A page of posts, by id, optionally of one user")
async def list_posts(
    posts: PostQueriesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[int | None, Query(ge=0, le=MAX_BIGINT, description="cursor")] = None,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_BIGINT)] = None,
) -> Page[PostRead]:
    items, next_cursor = await posts.page(after, limit, user_id)
    return Page[PostRead](items=items, next=next_cursor)


@router.get("/{post_id}", summary="One post")
async def get_post(post_id: PostId, posts: PostQueriesDep) -> PostRead:
    return await posts.get(post_id)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a post")
async def create_post(data: PostCreate, posts: PostsServiceDep, response: Response) -> PostRead:
    post = await posts.create(data)
    response.headers["Location"] = f"/api/v1/posts/{post.id}"
    return post


@router.patch("/{post_id}", summary="Change a post's title or body")
async def update_post(post_id: PostId, data: PostUpdate, posts: PostsServiceDep) -> PostRead:
    return await posts.update(post_id, data)


@router.delete("/{post_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a post")
async def delete_post(post_id: PostId, posts: PostsServiceDep) -> None:
    await posts.delete(post_id)
