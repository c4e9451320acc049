"""Every table of the schema; importing this package registers them all on Base.metadata."""

from backend.db.base import Base
from backend.db.models.idempotency_key import IdempotencyKey
from backend.db.models.post import Post
from backend.db.models.transaction_log import TransactionLog
from backend.db.models.user import User

__all__ = ["Base", "IdempotencyKey", "Post", "TransactionLog", "User"]
