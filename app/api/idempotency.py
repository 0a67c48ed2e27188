"""Idempotency keys (draft-ietf-httpapi-idempotency-key-header): a retried POST is answered,
not executed again.

``begin`` claims the key in a short transaction of its own, so that concurrent
duplicates race for one primary key: exactly one runs; the others find the key in
progress (409) or, once it is done, replay its answer. A successful answer is stored
in the same transaction as the change it reports (``finish``), so a crash can never
leave a change without its answer or an answer without its change; an error answer
is stored after the request's rollback. A claim whose request died is taken over once
its lock has run out. Keys expire after ``IDEMPOTENCY_TTL_HOURS`` (24 h at least).
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
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from werkzeug.wrappers import Response

from app import audit
from app.api import bp
from app.api.auth import caller
from app.api.problems import MEDIA_TYPE, ApiProblem
from app.db import get_session, transaction
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


def begin(token_id: int, key: str, print_: str, now: datetime | None = None) -> Replay | None:
    """Claim ``key`` for this request; a Replay when it was answered already.

    Raises ApiProblem 409 while another request holds it, 422 when it was used for
    another request.
    """
    now = now or utcnow()
    ttl = timedelta(hours=max(24, int(current_app.config["IDEMPOTENCY_TTL_HOURS"])))
    for _ in range(3):
        with transaction(write=True) as db:
            # Forget expired keys on the way (the index on expires_at keeps this cheap).
            db.execute(delete(IdempotencyKey).where(col(IdempotencyKey.expires_at) < now))
            row = db.get(IdempotencyKey, (token_id, key), with_for_update=True)
            if row is None:
                db.add(
                    IdempotencyKey(
                        token_id=token_id,
                        key=key,
                        fingerprint=print_,
                        created_at=now,
                        expires_at=now + ttl,
                        locked_until=now + timedelta(seconds=LOCK_SECONDS),
                    )
                )
                try:
                    db.flush()
                except IntegrityError:
                    db.rollback()
                    continue  # a concurrent duplicate inserted it first: look again
                return None
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
            return None
    raise ApiProblem("idempotency-in-progress", "the key is contended; retry later")


def finish(
    db: Session, token_id: int, key: str, status: int, body: Any, location: str | None
) -> None:
    """Store the answer in ``db``'s transaction (the change's own, for a success)."""
    row = db.get(IdempotencyKey, (token_id, key))
    if row is None:  # purged meanwhile (its TTL passed): nothing to keep
        return
    row.status_code = status
    row.response_body = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    row.location = location
    row.locked_until = None
    db.add(row)
    db.flush()


def finish_apart(token_id: int, key: str, status: int, body: str, location: str | None) -> None:
    """Store an error answer after the request's own transaction rolled back, together with
    the request's deferred audit events (the refusal it answers): one write, not two."""
    with transaction(write=True) as db:
        finish(db, token_id, key, status, body, location)
        audit.write(db, audit.pop_deferred())


def release(token_id: int, key: str) -> None:
    """Forget a claim whose request failed unexpectedly, so that a retry runs it again."""
    with transaction(write=True) as db:
        db.execute(
            delete(IdempotencyKey).where(
                col(IdempotencyKey.token_id) == token_id,
                col(IdempotencyKey.key) == key,
                col(IdempotencyKey.status_code).is_(None),
            )
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
        # The claim runs in its own transaction: nothing of the request's may be open yet.
        get_session().commit()
        replay = begin(token_id, key, fingerprint())
        if replay is not None:
            headers = {"Idempotent-Replayed": "true"}
            if replay.location:
                headers["Location"] = replay.location
            if replay.status >= 400:
                raise _Stored(Response(replay.body, replay.status, headers, mimetype=MEDIA_TYPE))
            return json.loads(replay.body), replay.status, headers
        try:
            model, status, headers = view(*args, **kwargs)
        except ApiProblem as problem:
            get_session().rollback()
            body = json.dumps(problem.body(), ensure_ascii=False)
            finish_apart(token_id, key, problem.status, body, None)
            raise
        except BaseException:
            get_session().rollback()
            release(token_id, key)
            raise
        body = model.model_dump_json()
        finish(get_session(), token_id, key, status, body, headers.get("Location"))
        return model, status, headers

    # Resolved now, in the view's module: the contract (spectree) evaluates the annotations
    # in the namespace of the function it is given, which is this module's.
    wrapper.__annotations__ = get_type_hints(view, include_extras=True)
    return wrapper  # type: ignore[return-value]


@bp.errorhandler(_Stored)
def _replay_stored(exc: _Stored) -> Response:
    return exc.response
