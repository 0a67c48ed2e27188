"""Idempotency keys (draft-ietf-httpapi-idempotency-key-header): a retried POST is answered,
not executed again.

The key is claimed in the request's own write transaction, and the answer is stored
in it: the claim, the change (or the refusal and its audit event) and the answer
commit together, so a crash can never leave a change without its answer, an answer
without its change, or a claim without either. Concurrent duplicates race for one
primary key: the first inserts it; on PostgreSQL the others wait on the key's index
until it commits and then replay its answer, on SQLite they queue for the write lock
and find the answer. The view runs inside a savepoint: a refused request's partial
changes are undone, its refusal, the refusal's audit event and the stored answer
are committed (one transaction, where a blocked submit once took four). A key still
marked in progress (written by an earlier version, which claimed keys in a
transaction of their own) answers 409 until its lock runs out, and is then taken
over. Keys expire after ``IDEMPOTENCY_TTL_HOURS`` (24 h at least).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, get_type_hints

from flask import current_app, request
from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col
from werkzeug.wrappers import Response

from app import audit
from app.api import bp
from app.api.auth import caller
from app.api.problems import MEDIA_TYPE, ApiProblem
from app.db import get_session
from app.models import IdempotencyKey, utcnow

F = TypeVar("F", bound=Callable[..., Any])
LOCK_SECONDS = 60


@dataclass(frozen=True)
class Replay:
    """The first answer to a key, to be sent again."""

    status: int
    body: str
    location: str | None


def fingerprint() -> str:
    """What makes two requests "the same": method, path and the body as canonical JSON."""
    body = request.get_json(silent=True)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def begin(
    db: Session, token_id: int, key: str, print_: str, now: datetime | None = None
) -> Replay | None:
    """Claim ``key`` for this request in ``db``'s transaction; a Replay when it was answered
    already.

    Raises ApiProblem 409 while another request holds it, 422 when it was used for
    another request.
    """
    now = now or utcnow()
    ttl = timedelta(hours=max(24, int(current_app.config["IDEMPOTENCY_TTL_HOURS"])))
    _forget_expired(db, now)
    claim = {
        "token_id": token_id,
        "key": key,
        "fingerprint": print_,
        "created_at": now,
        "expires_at": now + ttl,
        "locked_until": now + timedelta(seconds=LOCK_SECONDS),
    }
    # ON CONFLICT DO NOTHING: a new key costs one statement, and a concurrent duplicate's
    # uncommitted claim is waited for (PostgreSQL) instead of failing the transaction.
    insert = sqlite_insert if db.get_bind().dialect.name == "sqlite" else pg_insert
    claimed = db.execute(
        insert(IdempotencyKey)
        .values(claim)
        .on_conflict_do_nothing()
        .returning(col(IdempotencyKey.token_id))
    ).first()
    if claimed is not None:
        return None
    row = db.get(IdempotencyKey, (token_id, key), with_for_update=True, populate_existing=True)
    if row is None:  # claimed, answered and expired between the two statements
        raise ApiProblem("idempotency-in-progress", "the key is contended; retry later")
    if row.fingerprint != print_:
        raise ApiProblem(
            "idempotency-key-reused",
            "this Idempotency-Key was used with another request; use a new key",
        )
    if row.status_code is not None and row.response_body is not None:
        return Replay(row.status_code, row.response_body, row.location)
    if row.locked_until is not None and row.locked_until > now:
        raise ApiProblem(
            "idempotency-in-progress",
            "the first request with this key is still running; retry later",
            headers={"Retry-After": "1"},
        )
    # The request that claimed the key died before answering: take it over.
    row.locked_until = now + timedelta(seconds=LOCK_SECONDS)
    db.add(row)
    db.flush()
    return None


def _forget_expired(db: Session, now: datetime) -> None:
    # On the way (the index on expires_at keeps this cheap). Rows another request is
    # deleting right now are skipped, not waited for: the claim's transaction lasts the
    # whole request, and unrelated requests must not queue behind each other here.
    expired = (
        select(col(IdempotencyKey.token_id), col(IdempotencyKey.key))
        .where(col(IdempotencyKey.expires_at) < now)
        .with_for_update(skip_locked=True)
    )
    db.execute(
        delete(IdempotencyKey).where(
            tuple_(col(IdempotencyKey.token_id), col(IdempotencyKey.key)).in_(expired)
        )
    )


def finish(
    db: Session, token_id: int, key: str, status: int, body: Any, location: str | None
) -> None:
    """Store the answer in ``db``'s transaction (the change's own, or the refusal's).

    One UPDATE, without loading the row (a key purged meanwhile, its TTL passed, is
    simply not there to keep an answer)."""
    db.execute(
        update(IdempotencyKey)
        .where(col(IdempotencyKey.token_id) == token_id, col(IdempotencyKey.key) == key)
        .values(
            status_code=status,
            response_body=body if isinstance(body, str) else json.dumps(body, ensure_ascii=False),
            location=location,
            locked_until=None,
        )
        .execution_options(synchronize_session=False)
    )


class _Stored(Exception):
    """A stored problem answer, replayed for a repeated Idempotency-Key."""

    def __init__(self, response: Response) -> None:
        super().__init__("replayed answer")
        self.response = response


def idempotent(view: F) -> F:
    """The decorator of an operation: a repeated Idempotency-Key gets the first answer."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if not key:
            return view(*args, **kwargs)
        token_id = caller().token_id
        db = get_session()
        replay = begin(db, token_id, key, fingerprint())
        if replay is not None:
            headers = {"Idempotent-Replayed": "true"}
            if replay.location:
                headers["Location"] = replay.location
            if replay.status >= 400:
                raise _Stored(Response(replay.body, replay.status, headers, mimetype=MEDIA_TYPE))
            return json.loads(replay.body), replay.status, headers
        try:
            with db.begin_nested():  # a refusal undoes the view's changes, not the claim
                model, status, headers = view(*args, **kwargs)
        except ApiProblem as problem:
            body = json.dumps(problem.body(), ensure_ascii=False)
            finish(db, token_id, key, problem.status, body, None)
            # The refusal's audit events (deferred by the view) go with the answer; the
            # request ends in an error, which would roll back: commit here.
            audit.write(db, audit.pop_deferred())
            db.commit()
            raise
        except BaseException:
            db.rollback()  # the claim with it: a retry runs the request again
            raise
        body = model.model_dump_json()
        finish(db, token_id, key, status, body, headers.get("Location"))
        return model, status, headers

    # Resolved now, in the view's module: the contract (spectree) evaluates the annotations
    # in the namespace of the function it is given, which is this module's.
    wrapper.__annotations__ = get_type_hints(view, include_extras=True)
    return wrapper  # type: ignore[return-value]


@bp.errorhandler(_Stored)
def _replay_stored(exc: _Stored) -> Response:
    return exc.response
