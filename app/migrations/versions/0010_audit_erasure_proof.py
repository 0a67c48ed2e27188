"""The audit log keeps every event: a purge clears expired bodies, never rows.

Each event gets ``body_hash`` (the SHA-256 of its ``data``), its retention class and the
purge that cleared its body, if one did; ``data`` may become NULL. Events appended from
now on hash ``body_hash`` and the retention class instead of ``data`` (the second
envelope, ``app.audit.chain.envelope_v2_text``). The events already in the log keep their
hashes, so that checkpoints exported before still match: this migration appends one
``audit.format`` event that records where the old format ends, a digest over every old
event's seq, hash and second-format hash, and the seals of the segments purged until now
(the only gaps verification will ever accept).

The database then refuses every DELETE of an event and every UPDATE except a purge's:
``data`` to NULL and ``purge_id`` set, nothing else changed, the event older than that
purge's cutoff for its retention class, a cutoff that is not in the future, and never the
integrity class. Seals are frozen; purges and their cutoffs are insert-only.

A downgrade puts back the triggers of 0006 and the old columns; it refuses while any
body is cleared. Code before this revision cannot verify events appended after it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from app.audit import chain as audit_chain
from app.audit import kinds
from app.models import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSED = (
    "audit_event is append-only: DELETE is refused, and every UPDATE but a purge clearing"
    " an expired body"
)
FROZEN = "audit_seal is frozen: purges no longer delete events"
INSERT_ONLY = "audit purges are insert-only"
BAD_CUTOFF = "a purge cutoff may not lie in the future nor cover the integrity class"
# As app.audit.PG_LOCK_KEY: appends are serialized by it.
PG_LOCK_KEY = 0x61646761_7465
BATCH = 5_000

# The columns a purge may not change: every one but data and purge_id.
KEPT = (
    "seq", "occurred_at", "actor_type", "actor_id", "kind", "subject_type", "subject_id",
    "request_id", "prev_hash", "hash", "body_hash", "retention",
)  # fmt: skip

events = sa.table(
    "audit_event",
    sa.column("seq", sa.BigInteger()),
    sa.column("occurred_at", UTCDateTime()),
    sa.column("actor_type", sa.String()),
    sa.column("actor_id", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("subject_type", sa.String()),
    sa.column("subject_id", sa.String()),
    sa.column("data", sa.Text()),
    sa.column("request_id", sa.String()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
    sa.column("body_hash", sa.String()),
    sa.column("retention", sa.String()),
)


def _cleared_by_purge(new: str, old: str, now: str, same: str) -> str:
    """The condition under which an UPDATE is a purge's clearing of an expired body
    (``same``: the dialect's equality that holds for two NULLs)."""
    unchanged = " AND ".join(f"{new}.{c} {same} {old}.{c}" for c in KEPT)
    # Our own constants only: no input reaches this SQL.
    return (
        f"{old}.data IS NOT NULL AND {new}.data IS NULL AND {old}.purge_id IS NULL"  # noqa: S608
        f" AND {new}.purge_id IS NOT NULL AND {unchanged} AND {old}.retention <> 'integrity'"
        " AND EXISTS (SELECT 1 FROM audit_purge_cutoff c"
        f" WHERE c.purge_id = {new}.purge_id AND c.retention = {old}.retention"
        f" AND {old}.occurred_at < c.cutoff AND c.cutoff <= {now})"
    )


def upgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    op.create_table(
        "audit_purge",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("purged_at", UTCDateTime(), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("signature", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_purge"),
    )
    op.create_table(
        "audit_purge_cutoff",
        sa.Column("purge_id", sa.Integer(), nullable=False),
        sa.Column("retention", sa.String(16), nullable=False),
        sa.Column("cutoff", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["purge_id"], ["audit_purge.id"], name="fk_audit_purge_cutoff_purge_id_audit_purge"
        ),
        sa.PrimaryKeyConstraint("purge_id", "retention", name="pk_audit_purge_cutoff"),
    )
    if postgresql:
        op.execute(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
        op.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
    op.add_column("audit_event", sa.Column("body_hash", sa.String(64), nullable=True))
    op.add_column("audit_event", sa.Column("retention", sa.String(16), nullable=True))
    legacy_to, digest = _backfill(bind)
    with op.batch_alter_table("audit_event", recreate="always" if not postgresql else "auto") as t:
        t.alter_column("data", existing_type=sa.Text(), nullable=True)
        t.alter_column("body_hash", existing_type=sa.String(64), nullable=False)
        t.alter_column("retention", existing_type=sa.String(16), nullable=False)
        t.add_column(sa.Column("purge_id", sa.Integer(), nullable=True))
        t.create_foreign_key(
            "fk_audit_event_purge_id_audit_purge", "audit_purge", ["purge_id"], ["id"]
        )
    if legacy_to:
        _append_format(bind, legacy_to, digest)
    _triggers(postgresql)


def _backfill(bind: sa.Connection) -> tuple[int, str]:
    """Fill body_hash and retention of every event; the old events' digest (see
    ``audit_chain.LegacyDigest``) and the last old seq."""
    digest = audit_chain.LegacyDigest()
    after, last = 0, 0
    columns = [events.c[n] for n in (
        "seq", "occurred_at", "actor_type", "actor_id", "kind", "subject_type", "subject_id",
        "data", "request_id", "prev_hash", "hash",
    )]  # fmt: skip
    update = (
        events.update()
        .where(events.c.seq == sa.bindparam("b_seq"))
        .values(body_hash=sa.bindparam("b_body"), retention=sa.bindparam("b_retention"))
    )
    while True:
        rows = bind.execute(
            sa.select(*columns).where(events.c.seq > after).order_by(events.c.seq).limit(BATCH)
        ).all()
        if not rows:
            break
        changes = []
        for seq, at, a_type, a_id, kind, s_type, s_id, data, req, prev_hash, hash_ in rows:
            body = audit_chain.body_hash(data)
            retention = kinds.lookup(kind).retention
            text = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            second = audit_chain.envelope_v2_text(
                seq, text, a_type, a_id, kind, s_type, s_id, body, retention, req, prev_hash
            )
            digest.update(seq, hash_, hashlib.sha256(second.encode()).hexdigest())
            changes.append({"b_seq": seq, "b_body": body, "b_retention": retention})
        bind.execute(update, changes)
        after = last = rows[-1][0]
    digest.finish()
    return last, audit_chain.LegacyDigest.combine(digest.chunks)


def _append_format(bind: sa.Connection, legacy_to: int, digest: str) -> None:
    """The ``audit.format`` event, chained after the last old event in the new format."""
    seals = bind.execute(
        sa.text("SELECT up_to, head, kept, kept_digest, deleted FROM audit_seal ORDER BY up_to")
    ).all()
    prev = bind.execute(sa.select(events.c.hash).where(events.c.seq == legacy_to)).scalar_one()
    data = json.dumps(
        {
            "legacy_to": legacy_to,
            "legacy_digest": digest,
            "chunk": audit_chain.LEGACY_CHUNK,
            "seals": [
                {"up_to": u, "head": h, "kept": k, "kept_digest": d, "deleted": n}
                for u, h, k, d, n in seals
            ],
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    now = datetime.now(UTC)
    seq = legacy_to + 1
    body = audit_chain.body_hash(data)
    envelope = audit_chain.envelope_v2_text(
        seq, now.strftime("%Y-%m-%d %H:%M:%S.%f"), "system", "adgate", audit_chain.FORMAT,
        None, None, body, audit_chain.INTEGRITY, None, prev,
    )  # fmt: skip
    bind.execute(
        events.insert().values(
            seq=seq, occurred_at=now, actor_type="system", actor_id="adgate",
            kind=audit_chain.FORMAT, subject_type=None, subject_id=None, data=data,
            request_id=None, prev_hash=prev, hash=hashlib.sha256(envelope.encode()).hexdigest(),
            body_hash=body, retention=audit_chain.INTEGRITY,
        )
    )  # fmt: skip


def _triggers(postgresql: bool) -> None:
    if postgresql:
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN"
            " IF TG_OP = 'UPDATE' THEN"
            f" IF {_cleared_by_purge('NEW', 'OLD', 'now()', 'IS NOT DISTINCT FROM')}"
            f" THEN RETURN NEW; END IF; END IF; RAISE EXCEPTION '{REFUSED}'; END $$"
        )
        op.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only")
        for name, message in (("frozen", FROZEN), ("insert_only", INSERT_ONLY)):
            op.execute(
                f"CREATE FUNCTION audit_refuse_{name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN RAISE EXCEPTION '{message}'; END $$"
            )
        op.execute(
            "CREATE TRIGGER audit_seal_frozen BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE"
            " ON audit_seal FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_frozen()"
        )
        for table in ("audit_purge", "audit_purge_cutoff"):
            op.execute(
                f"CREATE TRIGGER {table}_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE"
                f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_insert_only()"
            )
        op.execute(
            "CREATE FUNCTION audit_purge_cutoff_check() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN IF NEW.cutoff > now() OR NEW.retention = 'integrity' THEN"
            f" RAISE EXCEPTION '{BAD_CUTOFF}'; END IF; RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_purge_cutoff_valid BEFORE INSERT ON audit_purge_cutoff"
            " FOR EACH ROW EXECUTE FUNCTION audit_purge_cutoff_check()"
        )
        return
    # SQLite: a time as the app stores it ('YYYY-MM-DD HH:MM:SS.ffffff' in UTC) compares
    # as text with SQLite's own clock in the same shape.
    now = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    op.execute(
        "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event"
        f" BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event"
        f" WHEN NOT ({_cleared_by_purge('NEW', 'OLD', now, 'IS')})"
        f" BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"
    )
    for action in ("INSERT", "UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_seal_no_{action.lower()} BEFORE {action} ON audit_seal"
            f" BEGIN SELECT RAISE(ABORT, '{FROZEN}'); END"
        )
    for table in ("audit_purge", "audit_purge_cutoff"):
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}"
                f" BEGIN SELECT RAISE(ABORT, '{INSERT_ONLY}'); END"
            )
    op.execute(
        "CREATE TRIGGER audit_purge_cutoff_valid BEFORE INSERT ON audit_purge_cutoff"
        f" WHEN NEW.cutoff > {now} OR NEW.retention = 'integrity'"
        f" BEGIN SELECT RAISE(ABORT, '{BAD_CUTOFF}'); END"
    )


# The triggers of 0006, put back by a downgrade.
APPEND_ONLY = "audit_event is append-only: UPDATE and DELETE are refused"
SEALED = "(SELECT COALESCE(MAX(up_to), 0) FROM audit_seal)"


def downgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    cleared = bind.execute(sa.text("SELECT COUNT(*) FROM audit_event WHERE data IS NULL"))
    if cleared.scalar_one():
        raise RuntimeError("purges cleared event bodies: the old format cannot hold them")
    if postgresql:
        op.execute("DROP TRIGGER audit_purge_cutoff_valid ON audit_purge_cutoff")
        op.execute("DROP FUNCTION audit_purge_cutoff_check()")
        for table in ("audit_purge", "audit_purge_cutoff"):
            op.execute(f"DROP TRIGGER {table}_insert_only ON {table}")
        op.execute("DROP TRIGGER audit_seal_frozen ON audit_seal")
        op.execute("DROP FUNCTION audit_refuse_frozen()")
        op.execute("DROP FUNCTION audit_refuse_insert_only()")
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN"
            f" IF TG_OP = 'DELETE' AND OLD.seq <= {SEALED} THEN RETURN OLD; END IF;"
            f" RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
        )
    else:
        op.execute("DROP TRIGGER audit_purge_cutoff_valid")
        for table in ("audit_purge", "audit_purge_cutoff"):
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_no_{action}")
        for action in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER audit_seal_no_{action}")
        op.execute("DROP TRIGGER audit_event_no_update")
        op.execute("DROP TRIGGER audit_event_no_delete")
    with op.batch_alter_table("audit_event", recreate="always" if not postgresql else "auto") as t:
        t.drop_constraint("fk_audit_event_purge_id_audit_purge", type_="foreignkey")
        t.drop_column("purge_id")
        t.drop_column("retention")
        t.drop_column("body_hash")
        t.alter_column("data", existing_type=sa.Text(), nullable=False)
    if not postgresql:
        op.execute(
            "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event"
            f" BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event"
            f" WHEN OLD.seq > {SEALED} BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )
    op.drop_table("audit_purge_cutoff")
    op.drop_table("audit_purge")
