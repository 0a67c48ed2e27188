"""Nothing disappears from the audit log unseen: the database refuses deletes and changes,
a purge clears only expired bodies under a signed authorization, and what a database
owner could still do is found by verification or by checkpoints kept elsewhere.

Each attack says which defence meets it: the database (``refused``), ``audit verify``
(``verify``) or ``audit check-checkpoints`` (``checkpoints``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from app import audit
from app.audit import integrity, retention, signing, verification
from app.db import engine, transaction
from app.models import AuditEvent, AuditPurge, AuditPurgeCutoff, utcnow
from tests.app.audit.legacy import write_legacy_log
from tools import synthetic_audit

DAYS = {"reads": 365, "security": 730, "evidence": 3650}


def _eng(app: Flask) -> Engine:
    with app.app_context():
        return engine()


def _verify(app: Flask, workers: int | None = None) -> verification.VerifyResult:
    """Verification as the app runs it: trusting the configured key."""
    with app.app_context():
        return verification.verify(engine(), workers=workers)


def _events(app: Flask) -> list[AuditEvent]:
    with app.app_context(), transaction(write=False) as db:
        return list(db.scalars(select(AuditEvent).order_by(col(AuditEvent.seq))))


def _count(app: Flask) -> int:
    with _eng(app).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


@pytest.fixture
def keyed(app: Flask, runner: FlaskCliRunner) -> Flask:
    """The app with an audit signing key."""
    result = runner.invoke(args=["audit", "keygen"])
    assert result.exit_code == 0, result.output
    app.config["AUDIT_SIGNING_KEY_FILE"] = "audit-signing.pem"
    return app


def _old_log(app: Flask, n: int = 400) -> None:
    """Events spread over two and a half years: reads and security events past retention."""
    synthetic_audit.events(_eng(app), n, checklists=10, users=3, days=900)


def _purge(app: Flask, **kwargs: object) -> retention.PurgeReport:
    with app.app_context(), transaction() as db:
        return retention.purge(
            db,
            DAYS,
            utcnow(),
            sign=integrity.signer(),
            **kwargs,  # type: ignore[arg-type]
        )


def _as_owner(conn: Connection) -> None:
    """What the database's owner (or anyone with the SQLite file) can do: lift the triggers."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
    else:
        conn.execute(text("DROP TRIGGER audit_event_no_update"))
        conn.execute(text("DROP TRIGGER audit_event_no_delete"))


def _export_checkpoints(app: Flask, runner: FlaskCliRunner, path: Path) -> Path:
    result = runner.invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["audit", "checkpoints", "--out", str(path)])
    assert result.exit_code == 0, result.output
    return path


def _public(app: Flask) -> str:
    return str(Path(app.instance_path) / "audit-signing.pem.pub")


# --- the attack of the report, and what the database refuses --------------------------


def test_the_seal_and_delete_attack_is_refused(keyed: Flask) -> None:
    """refused: a seal inserted, a forged audit.purged appended, a checklist's events and
    every failed login deleted."""
    _old_log(keyed)
    before = _count(keyed)
    eng = _eng(keyed)
    with pytest.raises(DBAPIError, match="frozen"), eng.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_seal (up_to, head, sealed_at, deleted, kept, kept_digest)"
                " SELECT seq, hash, occurred_at, 0, 0, '' FROM audit_event"
                " WHERE seq = (SELECT max(seq) FROM audit_event)"
            )
        )
    with keyed.app_context(), transaction() as db:
        audit.record(db, audit.PURGED, data={"up_to": before, "head": "0" * 64})
    for statement in (
        "DELETE FROM audit_event WHERE subject_type = 'checklist' AND subject_id = '3'",
        "DELETE FROM audit_event WHERE kind = 'auth.login_failed'",
        "DELETE FROM audit_event",
    ):
        with pytest.raises(DBAPIError, match="append-only"), eng.begin() as conn:
            conn.execute(text(statement))
    assert _count(keyed) == before + 1
    assert _verify(keyed).ok


@pytest.mark.parametrize(
    "change",
    [
        "kind = 'forged'",
        "data = '{}'",
        "data = NULL",  # a body cleared without a purge
        "hash = prev_hash",
        "prev_hash = hash",
        "occurred_at = occurred_at",  # even a write of the same value is refused (no purge)
        "body_hash = hash",
        "retention = 'reads'",
        "actor_id = '99'",
        "seq = seq + 100000",
    ],
)
def test_every_update_is_refused(app: Flask, change: str) -> None:
    """refused"""
    _old_log(app, 50)
    with pytest.raises(DBAPIError, match="append-only"), _eng(app).begin() as conn:
        conn.execute(text(f"UPDATE audit_event SET {change} WHERE seq = 10"))
    assert _verify(app).ok


def test_a_purge_may_not_change_anything_but_the_body(keyed: Flask) -> None:
    """refused: a purge's own UPDATE, with one more column changed or on a young event."""
    _old_log(keyed)
    report = _purge(keyed)
    assert report.purge_id is not None
    events = _events(keyed)
    young = [e for e in events if e.data is not None and e.retention == "reads"][-1]
    old_evidence = next(e for e in events if e.data is not None and e.retention == "evidence")
    integrity_event = next(e for e in events if e.retention == "integrity")
    cases = [
        (young.seq, ""),  # within its retention: no cutoff covers it
        (old_evidence.seq, ""),  # the purge has no cutoff for evidence
        (integrity_event.seq, ""),
        (next(e for e in events if e.data is not None and e.retention == "reads").seq,
         ", kind = 'forged'"),
    ]  # fmt: skip
    for seq, more in cases:
        with pytest.raises(DBAPIError, match="append-only"), _eng(keyed).begin() as conn:
            conn.execute(
                text(f"UPDATE audit_event SET data = NULL, purge_id = :p{more} WHERE seq = :s"),
                {"p": report.purge_id, "s": seq},
            )
    # And its rows cannot be changed afterwards.
    for statement in (
        "UPDATE audit_purge SET statement = '{}'",
        "DELETE FROM audit_purge_cutoff",
        "UPDATE audit_purge_cutoff SET retention = 'evidence'",
    ):
        with pytest.raises(DBAPIError), _eng(keyed).begin() as conn:
            conn.execute(text(statement))
    assert _verify(keyed).ok


def _forged_purge(app: Flask, cutoff_days: float, retention_class: str = "evidence") -> int:
    """A purge row and cutoff written straight into the database (the app's role can)."""
    now = utcnow()
    with app.app_context(), transaction() as db:
        purge_id = (db.scalar(select(func.max(col(AuditPurge.id)))) or 0) + 1
        statement = {
            "purge": purge_id, "at": "2026-01-01T00:00:00.000000Z",
            "retention_days": {retention_class: 0}, "cutoffs": {}, "cleared": {},
        }  # fmt: skip
        db.add(AuditPurge(id=purge_id, purged_at=now, statement=json.dumps(statement)))
        db.flush()
        cutoff = now - timedelta(days=cutoff_days)
        db.add(AuditPurgeCutoff(purge_id=purge_id, retention=retention_class, cutoff=cutoff))
    return purge_id


@pytest.mark.parametrize(("days", "retention_class"), [(-1, "evidence"), (10, "integrity")])
def test_a_forged_cutoff_in_the_future_or_for_integrity_is_refused(
    app: Flask, days: float, retention_class: str
) -> None:
    """refused"""
    with pytest.raises(DBAPIError, match="cutoff"):
        _forged_purge(app, days, retention_class)


def test_a_body_cleared_under_a_forged_unsigned_purge_is_reported(keyed: Flask) -> None:
    """verify: the database admits the forged cutoff (the app's role may insert purges),
    but nothing trusts it."""
    _old_log(keyed, 50)
    purge_id = _forged_purge(keyed, 0)
    with _eng(keyed).begin() as conn:
        conn.execute(
            text("UPDATE audit_event SET data = NULL, purge_id = :p WHERE seq = 20"),
            {"p": purge_id},
        )
    result = _verify(keyed)
    assert not result.ok
    assert result.first_bad_event == 20
    assert "not signed" in (result.reason or "")
    assert _count(keyed) == 50


def test_a_purge_signed_by_another_key_or_too_short_is_reported(
    keyed: Flask, tmp_path: Path
) -> None:
    """verify: a purge signed with a key nobody trusts, then one that kept reads 30 days."""
    _old_log(keyed)
    stranger = signing.generate(tmp_path / "stranger.pem")
    with keyed.app_context(), transaction() as db:
        report = retention.purge(db, DAYS, utcnow(), sign=stranger)
    result = _verify(keyed)
    assert not result.ok
    assert f"signed by key {stranger.key_id}, which is not trusted" in (result.reason or "")
    with keyed.app_context():
        trusted = verification.Trust.configured((stranger.private.public_key(),))
        assert verification.verify(engine(), trust=trusted).ok
        # Kept for 30 days where 365 are configured: signed, and still reported.
        with transaction() as db:
            retention.purge(db, {"reads": 30}, utcnow(), sign=integrity.signer())
        result = verification.verify(engine(), trust=trusted)
    assert not result.ok
    assert "fewer than the 365 configured" in (result.reason or "")
    assert report.purge_id == 1


# --- a legitimate purge --------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 3])
def test_a_purge_clears_only_expired_bodies_and_everything_still_verifies(
    keyed: Flask, runner: FlaskCliRunner, tmp_path: Path, workers: int
) -> None:
    _old_log(keyed)
    kept = _export_checkpoints(keyed, runner, tmp_path / "before.json")
    before = _events(keyed)
    result = runner.invoke(args=["audit", "purge", "--archive", str(tmp_path / "archive")])
    assert result.exit_code == 0, result.output
    assert "cleared the contents of" in result.output
    after = _events(keyed)
    assert [e.seq for e in after[: len(before)]] == [e.seq for e in before]  # no row gone
    assert [e.hash for e in after[: len(before)]] == [e.hash for e in before]
    now = utcnow()
    cleared = [e for e in after if e.data is None]
    assert cleared
    for event in after:
        days = DAYS.get(event.retention)
        expired = days is not None and event.occurred_at < now - timedelta(days=days)
        assert (event.data is None) is (expired and event.seq <= len(before)), event
    assert {e.retention for e in cleared} == {"reads", "security"}
    purged = json.loads(after[-1].data)
    assert after[-1].kind == audit.PURGED
    assert purged["purge"] == 1
    assert sum(purged["cleared"].values()) == len(cleared)
    assert _verify(keyed, workers=workers).ok
    check = runner.invoke(
        args=["audit", "check-checkpoints", str(kept), "--public-key", _public(keyed)]
    )
    assert check.exit_code == 0, check.output
    assert "head and count match (signed)" in check.output
    assert "nothing to purge" in runner.invoke(args=["audit", "purge"]).output


def test_a_purge_without_the_key_is_refused(app: Flask, runner: FlaskCliRunner) -> None:
    _old_log(app, 100)
    before = _events(app)
    result = runner.invoke(args=["audit", "purge"])
    assert result.exit_code == 1
    assert "signing key" in result.output
    assert _events(app) == before
    dry = runner.invoke(args=["audit", "purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would be cleared" in dry.output


# --- what only a database owner can do ---------------------------------------------------


def test_deleting_as_the_owner_is_reported(
    keyed: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """verify and checkpoints: a gap, and a truncated tail."""
    _old_log(keyed, 60)
    first = _export_checkpoints(keyed, runner, tmp_path / "first.json")
    _old_log(keyed, 60)
    second = _export_checkpoints(keyed, runner, tmp_path / "second.json")
    checkpoint = json.loads(first.read_text())["checkpoints"][0]["seq"]
    with _eng(keyed).begin() as conn:
        _as_owner(conn)
        conn.execute(text("DELETE FROM audit_event WHERE seq > :s"), {"s": checkpoint})
    # The shorter chain is consistent: only a checkpoint taken after its end finds it.
    assert _verify(keyed).ok
    check = runner.invoke(args=["audit", "check-checkpoints", str(second)])
    assert check.exit_code == 1
    assert "the checkpoint's event is gone" in check.output
    with _eng(keyed).begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq = 5"))
    result = _verify(keyed)
    assert (result.ok, result.first_bad_event) == (False, 6)
    check = runner.invoke(args=["audit", "check-checkpoints", str(first)])
    assert check.exit_code == 1
    assert "1 events up to it are missing" in check.output


def _rehash_from(conn: Connection, seq: int) -> None:
    """A consistent rewrite from ``seq`` on: every hash and link made anew."""
    rows = conn.execute(select(AuditEvent).where(col(AuditEvent.seq) >= seq)
                        .order_by(col(AuditEvent.seq))).all()  # fmt: skip
    prev = conn.execute(select(col(AuditEvent.hash)).where(col(AuditEvent.seq) == seq - 1))
    prev_hash = prev.scalar_one()
    for row in rows:
        event = AuditEvent(**row._mapping)
        event.prev_hash = prev_hash
        if event.data is not None:
            event.body_hash = audit.body_hash(event.data)
        new = audit.event_hash(event)
        conn.execute(update(AuditEvent).where(col(AuditEvent.seq) == event.seq).values(
            prev_hash=prev_hash, body_hash=event.body_hash, hash=new, data=event.data))  # fmt: skip
        prev_hash = new


def test_a_consistent_rewrite_is_found_by_signed_checkpoints(
    keyed: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """checkpoints: the owner drops the trigger, changes an event and re-hashes the rest."""
    _old_log(keyed, 60)
    kept = _export_checkpoints(keyed, runner, tmp_path / "kept.json")
    with _eng(keyed).begin() as conn:
        _as_owner(conn)
        conn.execute(text("UPDATE audit_event SET data = :d WHERE seq = 30"), {"d": '{"n":1}'})
        _rehash_from(conn, 30)
    assert _verify(keyed).ok  # consistent: nothing inside the database tells
    check = runner.invoke(
        args=["audit", "check-checkpoints", str(kept), "--public-key", _public(keyed)]
    )
    assert check.exit_code == 1
    assert "the chain was rewritten" in check.output


def test_checkpoints_of_a_rotated_key_pass_with_both_keys(
    keyed: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    _old_log(keyed, 50)
    old_public = tmp_path / "old.pub"
    old_public.write_text(Path(_public(keyed)).read_text())
    _purge(keyed)
    _export_checkpoints(keyed, runner, tmp_path / "ignored.json")
    instance = Path(keyed.instance_path)
    (instance / "audit-signing.pem").rename(instance / "old.pem")
    (instance / "audit-signing.pem.pub").unlink()
    assert runner.invoke(args=["audit", "keygen"]).exit_code == 0
    both = _export_checkpoints(keyed, runner, tmp_path / "both.json")
    # The purge was signed by the old key: the new one alone does not vouch for it.
    alone = runner.invoke(args=["audit", "verify"])
    assert alone.exit_code == 1
    assert "not trusted" in alone.output
    trusted = runner.invoke(args=["audit", "verify", "--public-key", str(old_public)])
    assert trusted.exit_code == 0, trusted.output
    keys = ["--public-key", str(old_public), "--public-key", _public(keyed)]
    check = runner.invoke(args=["audit", "check-checkpoints", str(both), *keys])
    assert check.exit_code == 0, check.output
    one = runner.invoke(args=["audit", "check-checkpoints", str(both), keys[2], keys[3]])
    assert one.exit_code == 1
    assert "signature: signed by key" in one.output
    keyed.config["AUDIT_PUBLIC_KEY_FILES"] = [str(old_public)]
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


# --- logs written before bodies were hashed apart ------------------------------------


@pytest.mark.parametrize("workers", [1, 3])
def test_a_log_from_before_the_migration_verifies_and_its_old_bodies_can_be_cleared(
    keyed: Flask, runner: FlaskCliRunner, workers: int
) -> None:
    legacy = write_legacy_log(keyed)
    events = _events(keyed)
    assert events[-1].kind == audit.FORMAT
    record = json.loads(events[-1].data)
    assert record["legacy_to"] == legacy.last
    assert [s["up_to"] for s in record["seals"]] == [legacy.sealed_to]
    assert {e.seq for e in events}.isdisjoint(legacy.deleted)
    assert _verify(keyed, workers=workers).ok
    with keyed.app_context(), transaction() as db:
        audit.record(db, "test.after_upgrade")
    report = _purge(keyed)
    assert report.total > 0
    cleared = [e for e in _events(keyed) if e.data is None]
    assert cleared
    assert all(e.seq <= legacy.last for e in cleared)
    result = _verify(keyed, workers=workers)
    assert result.ok, result
    assert result.events == _count(keyed)
    verify = runner.invoke(args=["audit", "verify"])
    assert verify.exit_code == 0, verify.output


LEGACY_TAMPERINGS = {
    # A cleared old event's metadata: its own hash cannot tell, the format's digest does.
    "a cleared old event's actor": ("UPDATE audit_event SET actor_id = '2' WHERE seq = :c", None),
    "an old event's body": ("UPDATE audit_event SET data = '[]' WHERE seq = :k", "k"),
    "an old event deleted inside the seal": ("DELETE FROM audit_event WHERE seq = :k", None),
    "the seal's row": ("UPDATE audit_seal SET kept = kept - 1", None),
}


@pytest.mark.parametrize("tampering", LEGACY_TAMPERINGS)
def test_tampering_with_an_old_log_is_reported(keyed: Flask, tampering: str) -> None:
    """verify (done as the owner: the database refuses each of these)."""
    legacy = write_legacy_log(keyed)
    _purge(keyed)
    events = _events(keyed)
    cleared = next(e.seq for e in events if e.data is None)
    kept = next(e.seq for e in reversed(events) if e.data is not None and e.seq < legacy.sealed_to)
    statement, _ = LEGACY_TAMPERINGS[tampering]
    with _eng(keyed).begin() as conn:
        _as_owner(conn)
        if "audit_seal" in statement:
            if conn.dialect.name == "postgresql":
                conn.execute(text("ALTER TABLE audit_seal DISABLE TRIGGER audit_seal_frozen"))
            else:
                conn.execute(text("DROP TRIGGER audit_seal_no_update"))
        conn.execute(text(statement), {"c": cleared, "k": kept})
    result = _verify(keyed)
    assert not result.ok, tampering
    assert result.first_bad_event is not None
