"""The auditors' workspace: filters, timeline, export + manifest, checkpoints, purge, runs."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from app import audit
from app.audit import export, integrity, retention, verification
from app.auditors import evidence
from app.db import engine, transaction
from app.models import AuditEvent, AuditSeal, utcnow
from tests.app.conftest import Cast
from tools import synthetic_audit

DAY = timedelta(days=1)


def _eng(app: Flask) -> Engine:
    with app.app_context():
        return engine()


def _events(app: Flask, kind: str | None = None) -> list[AuditEvent]:
    with app.app_context(), transaction(write=False) as db:
        query = select(AuditEvent).order_by(col(AuditEvent.seq))
        if kind:
            query = query.where(col(AuditEvent.kind) == kind)
        return list(db.scalars(query))


def _seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', html)]


def _kinds(html: str) -> list[str]:
    return re.findall(r'<tr data-seq="\d+" data-kind="([a-z_.]+)"', html)


# --- the events page ---------------------------------------------------------


def test_filters_by_checklist_outcome_actor_kind_and_time(
    app: Flask, cast: Cast, auditor: FlaskClient
) -> None:
    first = cast.create()
    second = cast.create(title="Another")
    cast.submit(first)  # refused: every unmet step is recorded
    assert _events(app, "checklist.refused")
    html = auditor.get(f"/audit/?checklist={first}").get_data(as_text=True)
    kinds = _kinds(html)
    assert "checklist.created" in kinds
    assert "checklist.refused" in kinds
    assert all(f"Ad {first}" in row for row in re.findall(r"<tr data-seq.*?</tr>", html, re.S))
    assert f"checklist_id={second}" not in html
    assert f"/audit/checklists/{second}" not in html
    refused = auditor.get("/audit/?outcome=refused").get_data(as_text=True)
    assert set(_kinds(refused)) == {"checklist.refused"}
    assert "Four-eyes approval" in refused  # the unmet steps, by name
    by_manager = _kinds(auditor.get("/audit/?actor=manager@example.org").get_data(as_text=True))
    assert by_manager
    assert "checklist.created" in by_manager
    with app.app_context(), transaction(write=False) as db:
        manager_id = db.execute(
            text("SELECT id FROM user_account WHERE email = 'manager@example.org'")
        ).scalar_one()
    assert (
        _kinds(auditor.get(f"/audit/?actor=user:{manager_id}").get_data(as_text=True)) == by_manager
    )
    created = _kinds(auditor.get("/audit/?kind=checklist.created").get_data(as_text=True))
    assert created == ["checklist.created", "checklist.created"]
    prefix = set(_kinds(auditor.get("/audit/?kind=checklist.*").get_data(as_text=True)))
    assert prefix
    assert all(k.startswith("checklist.") for k in prefix)
    today = utcnow().date()
    assert _seqs(auditor.get(f"/audit/?since={today}&until={today}").get_data(as_text=True))
    later = (today + DAY).isoformat()
    assert _seqs(auditor.get(f"/audit/?since={later}").get_data(as_text=True)) == []


@pytest.mark.parametrize(
    "query",
    ["kind=DROP%20TABLE", "checklist=abc", "checklist=0", "outcome=maybe", "since=2026-13-01",
     "since=2026-05-02&until=2026-05-01", "actor=<script>"],
)  # fmt: skip
def test_a_bad_filter_is_a_clear_400(app: Flask, auditor: FlaskClient, query: str) -> None:
    before = len(_events(app))
    response = auditor.get(f"/audit/?{query}")
    assert response.status_code == 400
    assert "invalid-feedback" in response.get_data(as_text=True)
    assert len(_events(app)) == before  # not even a read is recorded for a refused filter


@pytest.mark.parametrize("after", ["99999999999999999999999", "%D9%A3", "-1", "1.5"])
def test_a_bad_page_link_is_a_clear_400(app: Flask, auditor: FlaskClient, after: str) -> None:
    # A number beyond the database's integers answered 500; other scripts' digits were taken.
    before = len(_events(app))
    response = auditor.get(f"/audit/?after={after}")
    assert response.status_code == 400
    assert "The page link is not valid" in response.get_data(as_text=True)
    assert len(_events(app)) == before


def test_pages_are_keyset_cursors_newest_first(app: Flask, auditor: FlaskClient) -> None:
    synthetic_audit.events(_eng(app), 130, checklists=5, users=3, days=10)
    first = auditor.get("/audit/").get_data(as_text=True)
    seqs = _seqs(first)
    assert len(seqs) == 50
    assert seqs == sorted(seqs, reverse=True)
    after = re.search(r'id="older" href="/audit/\?after=(\d+)"', first)
    assert after
    assert int(after.group(1)) == seqs[-1]
    second = _seqs(auditor.get(f"/audit/?after={after.group(1)}").get_data(as_text=True))
    assert second
    assert max(second) < min(seqs)
    assert len(second) == 50
    reads = _events(app, "audit.read")
    assert json.loads(reads[-1].data)["count"] == 50


def test_the_timeline_holds_a_checklists_whole_history(
    app: Flask, cast: Cast, auditor: FlaskClient
) -> None:
    checklist = cast.create()
    cast.ready(checklist)
    assert cast.approve(checklist).status_code == 302
    assert cast.submit(checklist).status_code == 302
    html = auditor.get(f"/audit/checklists/{checklist}").get_data(as_text=True)
    kinds = re.findall(r'class="mb-3 timeline-event" data-seq="\d+" data-kind="([a-z_.]+)"', html)
    assert kinds[0] == "checklist.created"
    assert {"checklist.approve", "checklist.submit", "submission.queued"} <= set(kinds)
    seqs = [int(s) for s in re.findall(r'timeline-event" data-seq="(\d+)"', html)]
    assert seqs == sorted(seqs)
    assert "manager@example.org" in html
    assert "reviewer@example.org" in html
    assert auditor.get("/audit/checklists/999999").status_code == 404
    assert cast.manager.get(f"/audit/checklists/{checklist}").status_code == 403


# --- export ------------------------------------------------------------------


def _unzip(data: bytes) -> tuple[dict[str, bytes], dict[str, object]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return files, json.loads(files["manifest.json"])


def test_export_manifest_verifies_and_a_changed_line_fails(
    app: Flask, cast: Cast, auditor: FlaskClient, tmp_path: Path
) -> None:
    checklist = cast.create()
    cast.create(title="Other")
    response = auditor.get(f"/audit/export?format=csv&checklist={checklist}")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    files, manifest = _unzip(response.get_data())
    name = str(manifest["file"])
    lines = files[name].decode().splitlines()
    assert lines[0].startswith("\ufeffseq,occurred_at,actor_type,actor_id,actor,kind")
    assert manifest["count"] == len(lines) - 1 == len(_events(app, "checklist.created")) - 1
    assert manifest["filters"] == {"checklist": checklist}
    head = _events(app)[-1]
    assert manifest["chain_head"]["seq"] <= head.seq  # type: ignore[index]
    path = tmp_path / "export.zip"
    path.write_bytes(response.get_data())
    assert evidence.check_export(path).ok
    # The same line with one character changed: the file digest and the line's hash fail.
    changed = files[name].replace(b'[""CH""]', b'[""DE""]', 1)
    assert changed != files[name]
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        archive.writestr(name, changed)
        archive.writestr("manifest.json", files["manifest.json"])
    report = evidence.check_export(tampered)
    assert not report.ok
    assert any("the line was changed" in p for p in report.problems)
    assert any("SHA-256 differs" in p for p in report.problems)
    assert _events(app, "audit.exported")


def test_a_german_auditor_gets_a_csv_for_german_excel(
    app: Flask, cast: Cast, auditor: FlaskClient, tmp_path: Path
) -> None:
    """UTF-8 with a byte order mark, semicolons (the German decimal separator is a comma),
    and each actor by the address the auditors' pages show; the export still verifies."""
    checklist = cast.create()
    response = auditor.get(
        f"/audit/export?format=csv&checklist={checklist}", headers={"Accept-Language": "de"}
    )
    assert response.status_code == 200
    files, manifest = _unzip(response.get_data())
    raw = files[str(manifest["file"])]
    assert raw.startswith(
        b"\xef\xbb\xbfseq;occurred_at;actor_type;actor_id;actor;kind;subject_type;subject_id;"
        b"data;request_id;prev_hash;hash;body_hash;retention;purge_id\n"
    )
    assert manifest["csv"] == {"delimiter": ";", "bom": True}
    assert manifest["fields"] == list(export.NAMED_FIELDS)
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    [created] = [r for r in rows if r["kind"] == "checklist.created"]
    assert created["actor_type"] == "user"
    assert created["actor_id"] == str(cast.manager_user.id)
    assert created["actor"] == "manager@example.org"
    assert json.loads(created["data"])["countries"] == ["CH"]
    path = tmp_path / "export.zip"
    path.write_bytes(response.get_data())
    report = evidence.check_export(path)
    assert report.ok, report.problems
    assert report.events == len(rows)

    english = auditor.get(
        f"/audit/export?format=csv&checklist={checklist}", headers={"Accept-Language": "en"}
    )
    files, manifest = _unzip(english.get_data())
    raw = files[str(manifest["file"])]
    assert raw.startswith(b"\xef\xbb\xbfseq,occurred_at,actor_type,actor_id,actor,kind,")
    assert manifest["csv"] == {"delimiter": ",", "bom": True}
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert {r["actor"] for r in rows} == {"manager@example.org"}


def test_cli_export_jsonl_with_progress_signature_and_check(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    synthetic_audit.events(_eng(app), 3000, checklists=50, users=5, days=30)
    result = runner.invoke(args=["audit", "keygen"])
    assert result.exit_code == 0, result.output
    app.config["AUDIT_SIGNING_KEY_FILE"] = "audit-signing.pem"
    public = Path(app.instance_path) / "audit-signing.pem.pub"
    out = tmp_path / "refused.jsonl"
    result = runner.invoke(
        args=["audit", "export", "--format", "jsonl", "--outcome", "refused", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    refused = (
        len(_events(app, "checklist.refused"))
        + len(_events(app, "auth.login_failed"))
        + len(_events(app, "access.forbidden"))
    )
    manifest = json.loads(Path(f"{out}.manifest.json").read_text())
    assert manifest["count"] == refused == len(out.read_text().splitlines())
    assert manifest["signature"]["algorithm"] == "ed25519"
    check = runner.invoke(args=["audit", "check-export", str(out), "--public-key", str(public)])
    assert check.exit_code == 0, check.output
    assert "signature valid" in check.output
    # A forged manifest (recomputed digest for a changed file) fails on the signature.
    lines = out.read_text().splitlines(keepends=True)
    event = json.loads(lines[0])
    event["data"]["reason"] = "nothing happened"
    lines[0] = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
    out.write_text("".join(lines))
    forged = dict(manifest, sha256=__import__("hashlib").sha256(out.read_bytes()).hexdigest(),
                  bytes=len(out.read_bytes()))  # fmt: skip
    Path(f"{out}.manifest.json").write_text(json.dumps(forged))
    check = runner.invoke(args=["audit", "check-export", str(out), "--public-key", str(public)])
    assert check.exit_code == 1
    assert "signature" in check.output
    assert "line 1" in check.output
    # Refused filters and existing files change nothing.
    bad = runner.invoke(args=["audit", "export", "--kind", "NOT A KIND", "--out", str(out)])
    assert bad.exit_code == 2
    assert "--kind" in bad.output
    again = runner.invoke(args=["audit", "export", "--out", str(out)])
    assert again.exit_code == 2
    assert "exists" in again.output


# --- checkpoints -------------------------------------------------------------


def _rewrite_chain(eng: Engine, seq: int, data: str) -> None:
    """What someone with database access could do: change an event and rehash everything."""
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_event_no_update"))
        rows = conn.execute(select(*audit.CHAIN_COLUMNS).order_by(col(AuditEvent.seq))).all()
        prev = audit.GENESIS
        for row in rows:
            values = dict(zip([c.key for c in audit.CHAIN_COLUMNS], row, strict=True))
            if values["seq"] == seq:
                values["data"] = data
                values["body_hash"] = audit.body_hash(data)
            values["prev_hash"] = prev
            event = AuditEvent(**values)
            new_hash = audit.event_hash(event)
            conn.execute(
                update(AuditEvent).where(col(AuditEvent.seq) == values["seq"])
                .values(data=values["data"], body_hash=values["body_hash"], prev_hash=prev,
                        hash=new_hash)
            )  # fmt: skip
            prev = new_hash
        if eng.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only"))


def test_a_checkpoint_from_yesterday_detects_a_chain_rewritten_today(
    app: Flask, runner: FlaskCliRunner, cast: Cast, tmp_path: Path
) -> None:
    checklist = cast.create()
    runner.invoke(args=["audit", "keygen"])
    app.config["AUDIT_SIGNING_KEY_FILE"] = "audit-signing.pem"
    with app.app_context(), transaction() as db:
        integrity.take_checkpoint(db, utcnow() - DAY, integrity.signer())
    kept = tmp_path / "checkpoints.json"
    assert runner.invoke(args=["audit", "checkpoints", "--out", str(kept)]).exit_code == 0
    public = str(Path(app.instance_path) / "audit-signing.pem.pub")
    ok = runner.invoke(args=["audit", "check-checkpoints", str(kept), "--public-key", public])
    assert ok.exit_code == 0, ok.output
    cast.create(title="Later")  # the chain grows after the checkpoint: still fine
    assert runner.invoke(args=["audit", "check-checkpoints", str(kept)]).exit_code == 0

    created = next(e for e in _events(app, "checklist.created") if e.subject_id == str(checklist))
    _rewrite_chain(_eng(app), created.seq, '{"countries":["DE"],"version":1}')
    assert verification.verify(_eng(app)).ok  # consistent: the chain alone cannot tell
    result = runner.invoke(args=["audit", "check-checkpoints", str(kept), "--public-key", public])
    assert result.exit_code == 1
    assert "the chain was rewritten" in result.output
    # A forged checkpoint file (the new head written in) fails on its signature.
    doc = json.loads(kept.read_text())
    doc["checkpoints"][0]["head"] = _events(app)[doc["checkpoints"][0]["seq"] - 1].hash
    kept.write_text(json.dumps(doc))
    forged = runner.invoke(args=["audit", "check-checkpoints", str(kept), "--public-key", public])
    assert forged.exit_code == 1
    assert "signature" in forged.output


def test_the_worker_takes_the_daily_checkpoint_once(app: Flask) -> None:
    from app.submissions.worker import Worker, make_gateway

    with app.app_context():
        worker = Worker(make_gateway(app))
        assert worker.checkpoint_if_due()
        assert not worker.checkpoint_if_due()
    assert len(_events(app, "audit.checkpoint")) == 1


# --- retention ---------------------------------------------------------------


def _old_log(app: Flask) -> None:
    """Two years and a half of events; reads and security events older than retention."""
    synthetic_audit.events(_eng(app), 2000, checklists=30, users=5, days=900)


def _keyed(app: Flask, runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["audit", "keygen"]).exit_code == 0
    app.config["AUDIT_SIGNING_KEY_FILE"] = "audit-signing.pem"


def test_purge_of_old_events_leaves_verify_ok(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    _old_log(app)
    _keyed(app, runner)
    before = len(_events(app))
    dry = runner.invoke(args=["audit", "purge", "--dry-run"])
    assert dry.exit_code == 0
    assert "would be cleared" in dry.output
    assert not [e for e in _events(app) if e.data is None]
    result = runner.invoke(args=["audit", "purge", "--archive", str(tmp_path / "archive")])
    assert result.exit_code == 0, result.output
    events = _events(app)
    assert len(events) == before + 1  # every event kept, and the purge's own
    cutoff = utcnow() - timedelta(days=365)
    old_reads = [e for e in events if e.kind == "audit.read" and e.occurred_at < cutoff]
    assert old_reads
    assert all(e.data is None and e.purge_id == 1 for e in old_reads)
    assert [e for e in events if e.kind == "checklist.created" and e.occurred_at < cutoff]
    assert all(e.data is not None for e in events if e.kind == "checklist.created")
    verify = runner.invoke(args=["audit", "verify"])
    assert verify.exit_code == 0, verify.output
    archived = list((tmp_path / "archive").glob("*.jsonl"))
    assert len(archived) == 1
    assert evidence.check_export(archived[0]).ok
    assert evidence.check_export(archived[0]).events == len([e for e in events if e.data is None])
    # New events after the purge chain on as usual; a second purge finds nothing.
    with app.app_context(), transaction() as db:
        audit.record(db, "test.after_purge")
    with app.app_context():
        assert verification.verify(engine()).ok
    assert "nothing to purge" in runner.invoke(args=["audit", "purge"]).output


def test_tampering_after_a_purge_is_still_detected(app: Flask, runner: FlaskCliRunner) -> None:
    _old_log(app)
    _keyed(app, runner)
    with app.app_context(), transaction() as db:
        report = retention.purge(
            db, app.config["AUDIT_RETENTION_DAYS"], utcnow(), sign=integrity.signer()
        )
    assert report.total > 0
    eng = _eng(app)
    with app.app_context():
        assert verification.verify(eng).ok
    victim = [e for e in _events(app) if e.data is not None][10]
    # Changing a kept body needs the database's owner (the trigger refuses), and is found.
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_event_no_update"))
        conn.execute(text("UPDATE audit_event SET data = '[]' WHERE seq = :s"), {"s": victim.seq})
    with app.app_context():
        result = verification.verify(eng)
    assert not result.ok
    assert result.first_bad_event == victim.seq
    assert "body_hash" in (result.reason or "")


def test_deleting_after_a_purge_is_refused(app: Flask, runner: FlaskCliRunner) -> None:
    _old_log(app)
    _keyed(app, runner)
    with app.app_context(), transaction() as db:
        report = retention.purge(
            db, app.config["AUDIT_RETENTION_DAYS"], utcnow(), sign=integrity.signer()
        )
        audit.record(db, "test.after_purge")
    assert report.purge_id
    before = len(_events(app))
    with pytest.raises(DBAPIError), _eng(app).begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE data IS NULL"))
    with _eng(app).begin() as conn:
        seals = conn.execute(select(func.count()).select_from(AuditSeal)).scalar_one()
    assert seals == 0
    assert len(_events(app)) == before


# --- verification runs -------------------------------------------------------


def test_verification_from_the_page_reports_progress_and_result(
    app: Flask, auditor: FlaskClient
) -> None:
    synthetic_audit.events(_eng(app), 12_000, checklists=50, users=5, days=30)
    page = auditor.get("/audit/integrity").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    response = auditor.post("/audit/verifications", data={"csrf_token": token.group(1)})
    assert response.status_code == 302
    run_id = int(response.headers["Location"].rsplit("=", 1)[1])
    seen = []
    for _ in range(600):
        status = auditor.get(f"/audit/verifications/{run_id}").get_json()
        seen.append(status["checked"])
        if status["status"] != "running":
            break
        time.sleep(0.05)
    assert status["status"] == "ok", status
    assert status["checked"] == status["total"] >= 12_000
    assert seen == sorted(seen)
    verified = _events(app, "audit.verified")
    assert json.loads(verified[-1].data)["ok"] is True
    assert verified[-1].actor_type == "user"


def test_the_page_size_is_chosen_and_kept_by_the_page_links(
    app: Flask, auditor: FlaskClient
) -> None:
    synthetic_audit.events(_eng(app), 60, checklists=2, users=2, days=3)
    first = auditor.get("/audit/?per_page=25").get_data(as_text=True)
    assert len(_seqs(first)) == 25
    nav = first.split('<nav aria-label="Pages of the audit log">')[1].split("</nav>")[0]
    assert 'aria-current="page"' in nav
    older = re.search(r'id="older" href="/audit/\?after=(\d+)&amp;per_page=25" rel="next"', nav)
    assert older
    second = auditor.get(f"/audit/?after={older.group(1)}&per_page=25").get_data(as_text=True)
    assert len(_seqs(second)) == 25
    assert max(_seqs(second)) < min(_seqs(first))
    assert auditor.get("/audit/?per_page=7").status_code == 400
