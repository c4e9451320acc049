"""Every table of the schema; importing this package registers them all on Base.metadata."""

from stackdeck.backend.db.base import Base
from stackdeck.backend.db.models.idempotency_key import IdempotencyKey
from stackdeck.backend.db.models.post import Post
from stackdeck.backend.db.models.transaction_log import TransactionLog
from stackdeck.backend.db.models.user import User
from stackdeck.backend.db.models.xray import RequestTrace, XrayChange

__all__ = [
    "Base",
    "IdempotencyKey",
    "Post",
    "RequestTrace",
    "TransactionLog",
    "User",
    "XrayChange",
]
