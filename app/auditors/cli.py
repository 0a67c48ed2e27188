"""``flask audit …``: verify, export, checkpoints, retention, and the client-address key."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from sqlalchemy import func, select
from sqlmodel import col
from werkzeug.datastructures import MultiDict

from app import audit
from app.audit import export, integrity, query, retention, signing, verification
from app.auditors import evidence, privacy
from app.auditors.forms import AuditFilterForm
from app.db import engine, new_session, transaction
from app.models import AuditCheckpoint, AuditEvent, utcnow


@click.group("audit", cls=AppGroup)
def audit_cli() -> None:
    """Verify, export, checkpoint and purge the audit log."""


audit_cli.add_command(privacy.rotate_ip_key_command)


def public_keys(command: Any) -> Any:
    """``--public-key`` (several allowed): keys trusted besides the configured one."""
    return click.option(
        "--public-key", "public_keys", multiple=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="An audit signing key's public half (.pub) to trust; repeat it for earlier keys.",
    )(command)  # fmt: skip


def _load_keys(paths: tuple[Path, ...]) -> tuple[Any, ...]:
    try:
        return tuple(signing.load_public(p.read_bytes()) for p in paths)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def textfile(command: Any) -> Any:
    """``--textfile``: also write the result for node_exporter's textfile collector."""
    return click.option(
        "--textfile", type=click.Path(dir_okay=False, path_type=Path),
        help="Write the result as Prometheus metrics to this .prom file (node_exporter's "
        "textfile collector), replaced atomically; written on failure too.",
    )(command)  # fmt: skip


@contextmanager
def reported(path: Path | None, check: str, counted: str) -> Iterator[list[float]]:
    """Write ``adgate_audit_<check>_*`` to ``path`` when the block ends: success 1 when it
    ends normally, 0 when it fails (exit 1, an exception: an unreachable database too).

    The textfile collector takes no sample timestamps; the time of the run is a metric of
    its own (``…_last_run_timestamp_seconds``), which the alerts compare with ``time()``.
    """
    count: list[float] = []
    ok = False
    try:
        yield count
        ok = True
    finally:
        if path is not None:
            registry = CollectorRegistry()
            prefix = f"adgate_audit_{check}"
            Gauge(
                f"{prefix}_last_run_success", f"1 if the last {check} passed, else 0",
                registry=registry,
            ).set(1 if ok else 0)  # fmt: skip
            Gauge(
                f"{prefix}_last_run_timestamp_seconds", f"When the last {check} ran",
                registry=registry,
            ).set(time.time())  # fmt: skip
            if count:
                Gauge(
                    f"{prefix}_{counted}", f"{counted} the last {check} read", registry=registry
                ).set(count[0])
            try:
                write_to_textfile(str(path), registry)
            except OSError as exc:
                raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None


@audit_cli.command("verify")
@click.option("--progress/--no-progress", default=None, help="A progress bar (default: on a TTY).")
@public_keys
@textfile
def verify_command(
    progress: bool | None, public_keys: tuple[Path, ...], textfile: Path | None
) -> None:
    """Verify the whole hash chain in constant memory, and every purge's signature."""
    with reported(textfile, "verify", "events") as count:
        _verify(progress, public_keys, count)


def _verify(progress: bool | None, public_keys: tuple[Path, ...], count: list[float]) -> None:
    eng = engine()
    trust = verification.Trust.configured(_load_keys(public_keys))
    show = sys.stderr.isatty() if progress is None else progress
    if show:
        with new_session(write=False, eng=eng) as db:
            total = db.scalar(select(func.count()).select_from(AuditEvent)) or 0
        with click.progressbar(length=total, label="verifying", file=sys.stderr) as bar:
            done = [0]

            def step(checked: int) -> None:
                bar.update(checked - done[0])
                done[0] = checked

            result = verification.verify(eng, progress=step, trust=trust)
    else:
        result = verification.verify(eng, trust=trust)
    count.append(result.events)
    if result.ok:
        click.echo(f"ok {result.events} events head={result.head}")
        return
    click.echo(
        f"broken at event {result.first_bad_event}: {result.reason} "
        f"({result.events} events before it verified, last good head={result.head})",
        err=True,
    )
    raise SystemExit(1)


# --- export ------------------------------------------------------------------


def _filter(options: dict[str, Any]) -> query.Filter:
    """The command's filter options, checked by the pages' own filter form."""
    raw = MultiDict({k: str(v) for k, v in options.items() if v not in (None, "")})
    # Flask-WTF forms live in a request; this one is built from the options instead.
    with current_app.test_request_context():
        form = AuditFilterForm(formdata=raw)
        valid = form.validate()
    if not valid:
        problems = "; ".join(
            f"--{name}: {' '.join(map(str, e))}" for name, e in form.errors.items()
        )
        raise click.UsageError(problems)
    with new_session(write=False) as db:
        return query.resolved(db, form.to_filter())


def filter_options(command: Any) -> Any:
    """The filter as options: the same names and rules as on the pages."""
    for name, help_ in reversed(
        [
            ("checklist", "an ad's number: its events and its submissions'"),
            ("actor", "an e-mail address, user:5, token:3 or system"),
            ("kind", "an event kind, or a prefix ending in * (checklist.*)"),
            ("outcome", "ok, refused or failed"),
            ("since", "from this day (YYYY-MM-DD, UTC)"),
            ("until", "up to and including this day (YYYY-MM-DD, UTC)"),
        ]
    ):
        command = click.option(f"--{name}", default=None, help=help_)(command)
    return command


@audit_cli.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
    help="The file; its manifest is written beside it as FILE.manifest.json.",
)  # fmt: skip
@filter_options
def export_command(fmt: str, out: Path, **options: Any) -> None:
    """Export the (filtered) log, streamed, with a manifest (count, chain head, SHA-256)."""
    the_filter = _filter(options)
    if out.exists():
        raise click.UsageError(f"{out} exists: choose a new file (exports are never overwritten)")
    with new_session(write=False) as db:
        job = export.Export(db, the_filter, fmt, out.name, "system:cli", integrity.signer())
        total = query.count(db, job.snapshot)
        with (
            click.progressbar(length=total, label="exporting", file=sys.stderr) as bar,
            out.open("xb") as stream,
        ):
            job.progress = bar.update
            manifest = export.write_files(job, stream)
    Path(f"{out}.manifest.json").write_bytes(export.manifest_bytes(manifest))
    with transaction() as db:
        audit.record(
            db,
            "audit.exported",
            data={"format": fmt, "filters": the_filter.describe(), "count": manifest["count"],
                  "sha256": manifest["sha256"], "via": "cli"},
        )  # fmt: skip
    click.echo(f"{manifest['count']} events -> {out} sha256={manifest['sha256']}")


@audit_cli.command("check-export")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signing key's public half (.pub), to check the manifest's signature.",
)  # fmt: skip
def check_export_command(file: Path, public_key: Path | None) -> None:
    """Check an export against its manifest and every line against its hash (no database)."""
    try:
        report = evidence.check_export(file, public_key.read_bytes() if public_key else None)
    except (ValueError, KeyError) as exc:
        raise click.ClickException(str(exc)) from None
    for problem in report.problems:
        click.echo(problem, err=True)
    head = report.manifest.get("chain_head") or {}
    click.echo(
        f"{'ok' if report.ok else 'FAILED'}: {report.events} events, "
        f"chain head at export #{head.get('seq', '-')}, signature {report.signature}"
    )
    if not report.ok:
        raise SystemExit(1)


# --- checkpoints -------------------------------------------------------------


@audit_cli.command("keygen")
def keygen_command() -> None:
    """Create the Ed25519 key that signs checkpoints and manifests (instance/audit-signing.pem)."""
    path = Path(current_app.instance_path) / "audit-signing.pem"
    if path.exists():
        raise click.ClickException(f"{path} exists already; move it away to make a new key")
    signer = signing.generate(path)
    click.echo(f"key {signer.key_id}: {path} (private, 0600) and {path}.pub (give it to auditors)")
    configured = current_app.config.get("AUDIT_SIGNING_KEY_FILE")
    if configured and Path(current_app.instance_path) / configured == path:
        click.echo("ADGATE_AUDIT_SIGNING_KEY_FILE names it already: restart what signs.")
    else:
        click.echo(
            "Set ADGATE_AUDIT_SIGNING_KEY_FILE=audit-signing.pem in the env file of every host"
            " (/etc/adgate/adgate.env, docs/deploy.md) and restart the app servers and workers."
        )


@audit_cli.command("checkpoint")
@click.option("--if-due", is_flag=True, help="Only when the newest is older than a day.")
def checkpoint_command(if_due: bool) -> None:
    """Append a checkpoint of the chain head (signed when a key is configured)."""
    now = utcnow()
    every = timedelta(hours=current_app.config["AUDIT_CHECKPOINT_HOURS"])
    with transaction() as db:
        if if_due and not integrity.checkpoint_due(db, now, every):
            click.echo("not due")
            return
        cp = integrity.take_checkpoint(db, now, integrity.signer())
    click.echo(
        f"checkpoint #{cp.seq} head={cp.head} events={cp.events} signed={bool(cp.signature)}"
    )


@audit_cli.command("checkpoints")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def checkpoints_command(out: Path) -> None:
    """Write every checkpoint to a file to keep away from this server (a relative path is taken
    from the current folder)."""
    out = out.absolute()
    with new_session(write=False) as db:
        rows = db.scalars(select(AuditCheckpoint).order_by(col(AuditCheckpoint.seq))).all()
        doc = integrity.export_checkpoints(rows, integrity.signer())
    try:
        out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        # The commands run in the installation's folder, which the service user cannot write.
        raise click.ClickException(
            f"cannot write {out}: {exc.strerror}; give --out a path where this user may write"
            " (e.g. /var/lib/adgate/checkpoints.json or /tmp/checkpoints.json)"
        ) from None
    click.echo(f"{len(rows)} checkpoints -> {out}")


@audit_cli.command("check-checkpoints")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@public_keys
@textfile
def check_checkpoints_command(
    file: Path, public_keys: tuple[Path, ...], textfile: Path | None
) -> None:
    """Check earlier checkpoints against the chain as it is now: a rewrite, a gap or a
    shorter log is found. Without --public-key, signatures are not checked."""
    with reported(textfile, "checkpoints_check", "checkpoints") as count:
        _check_checkpoints(file, public_keys, count)


def _check_checkpoints(file: Path, public_keys: tuple[Path, ...], count: list[float]) -> None:
    keys = _load_keys(public_keys)
    try:
        findings, result = integrity.check_checkpoints(engine(), json.loads(file.read_text()), keys)
    except (ValueError, KeyError) as exc:
        raise click.ClickException(str(exc)) from None
    count.append(len(findings))
    for f in findings:
        click.echo(f"checkpoint #{f.seq}: {'ok' if f.ok else 'FAILED'}: {f.detail}")
    chain = "ok" if result.ok else f"broken at event {result.first_bad_event}: {result.reason}"
    click.echo(f"chain: {chain} ({result.events} events)")
    if not result.ok or not all(f.ok for f in findings):
        raise SystemExit(1)


# --- retention ---------------------------------------------------------------


@audit_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be cleared; change nothing.")
@click.option(
    "--archive", type=click.Path(file_okay=False, path_type=Path),
    help="Export the events whose bodies are cleared into this folder first (JSON Lines).",
)  # fmt: skip
def purge_command(dry_run: bool, archive: Path | None) -> None:
    """Clear the bodies of events past their class's retention (signed); verify stays ok."""
    retention_days = current_app.config["AUDIT_RETENTION_DAYS"]
    try:
        with transaction() as db:
            report = retention.purge(
                db, retention_days, utcnow(), sign=integrity.signer(), archive_dir=archive,
                dry_run=dry_run,
            )  # fmt: skip
    except retention.PurgeError as exc:
        raise click.ClickException(str(exc)) from None
    for name, cutoff in sorted(report.cutoffs.items()):
        click.echo(f"{name}: before {cutoff}: {report.cleared.get(name, 0)} events")
    if dry_run:
        click.echo(f"dry run: the contents of {report.total} events would be cleared")
    elif report.purge_id is None:
        click.echo("nothing to purge")
    else:
        where = f", archived in {report.archive}" if report.archive else ""
        click.echo(
            f"cleared the contents of {report.total} events; purge #{report.purge_id}{where}"
        )
