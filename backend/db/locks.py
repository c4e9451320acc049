"""The PostgreSQL advisory lock keys that serialise work across every process of the app."""

# Any fixed bigint; it only has to differ from the other advisory locks the app takes
# (backend/services/outcomes.py holds the transaction log's).
MIGRATION_LOCK_KEY = 0x5354_4B44_4D49_47  # "STKDMIG"


def lock_is_held_sql(key: int) -> str:
    """SQL that is true while any session of this database holds the advisory lock `key`."""
    # A bigint key is stored in pg_locks as two 32-bit halves: classid (high), objid (low).
    return (
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        f" AND classid = {key >> 32} AND objid = {key & 0xFFFF_FFFF} AND objsubid = 1)"
    )
