"""/posts: keyset pages sorted and filtered, a count, an export; read, create, update,
delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel
from starlette.responses import StreamingResponse

from stackdeck.backend.api import API_PREFIX
from stackdeck.backend.api.deps import PostQueriesDep, PostsServiceDep
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
from stackdeck.backend.api.problems import PROBLEM_RESPONSES
from stackdeck.backend.schemas.common import SortedPage
from stackdeck.backend.schemas.posts import (
    POST_FIELDS,
    POST_KEY_KINDS,
    PostCreate,
    PostFilters,
    PostRead,
    PostSortParam,
    PostUpdate,
)
from stackdeck.backend.schemas.types import MAX_BIGINT

router = APIRouter(prefix=f"{API_PREFIX}/posts", tags=["posts"], responses=PROBLEM_RESPONSES)

PostId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="the post's id")]


SortQuery = Annotated[
    PostSortParam,
    Query(description="the column to sort by; a leading `-` sorts descending; ties by id"),
]
FiltersQuery = Annotated[PostFilters, Query()]


@router.get(
    "", summary="A keyset page of posts, sorted and filtered (pass `next` or `prev` as `cursor`)"
)
async def list_posts(
    posts: PostQueriesDep,
    filters: FiltersQuery,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: AfterQuery = None,
    cursor_: CursorQuery = None,
    sort: SortQuery = "id",
) -> SortedPage[PostRead]:
    by = sort_of(sort, "asc")
    start = start_of(by, after, cursor_, POST_KEY_KINDS)
    items, edges = await posts.page(by, filters, start, limit)
    return SortedPage[PostRead](
        items=items, next=next_of(by, edges.next), prev=prev_of(by, edges.prev)
    )


class PostCount(BaseModel):
    total: int


@router.get("/count", summary="How many posts match the filters (all of them, with none)")
async def count_posts(posts: PostQueriesDep, filters: FiltersQuery) -> PostCount:
    return PostCount(total=await posts.count(filters))


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses=export_responses("post"),
    summary="Every matching post, sorted, streamed as CSV, NDJSON or a JSON array",
)
async def export_posts(
    posts: PostQueriesDep,
    filters: FiltersQuery,
    export_format: FormatQuery = "csv",
    sort: SortQuery = "id",
) -> StreamingResponse:
    by = sort_of(sort, "asc")
    if export_format == "csv":
        body = csv_file(POST_FIELDS, await primed(posts.export_csv(by, filters)))
    else:
        body = json_file(export_format, POST_FIELDS, await primed(posts.export(by, filters)))
    return export_response("posts", export_format, body)


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
