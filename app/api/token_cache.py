"""A short in-process cache of API tokens and their owners, revoked everywhere through Redis.

Every API request needs its token's row and owner. Where several processes share a Redis
(``RATELIMIT_STORAGE_URI=redis://…``), each process keeps the rows it read for a few
seconds (``TOKEN_CACHE_SECONDS``), keyed by the token's hash, at most ``TOKEN_CACHE_SIZE``
of them. Without a shared Redis (the embedded default counts its rate limits in memory)
there is no cache: every request reads the database, as before.

What makes it safe is a generation counter in Redis, read on every request (one GET)
and compared with the generation an entry was filled under: any other value, and the
entry is read again from the database. The counter is bumped by the session itself, not
by the code that revokes: whenever a transaction inserts, changes or deletes an
``ApiToken`` or a ``User`` row (a token's ``last_used_at`` alone excepted), through the
ORM's unit of work or an ORM ``update()``/``delete()``, it is bumped before the commit and
again after it. A process that reads between the two caches under a generation that the
second bump makes old. If Redis cannot be reached before the commit, the transaction fails:
a revocation no cache hears of is never committed. If it cannot be reached when a request
reads the counter, that request reads the database.

An entry holds column values, never a session's objects: each hit builds fresh rows and
attaches them to the request's session without a statement (``merge(load=False)``), so
that writing ``last_used_at`` or reading the owner's role works as on rows just read.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis
from flask import Flask, current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, SQLModel

from app.api import tokens
from app.models import ApiToken, User

EXTENSION = "adgate.token_cache"
# session.info: this transaction changed what a token check reads; and which cache to tell.
_CHANGED = "adgate.token_cache.changed"
_CACHE = "adgate.token_cache.cache"
_COMMITTING = "adgate.token_cache.committing"  # the outer transaction's, not a savepoint's
# Columns whose change does not make a cached row wrong: a token's use is recorded once a
# minute, and the cache records it on its own copy (``remember_use``).
IGNORED: Mapping[type[Any], frozenset[str]] = {ApiToken: frozenset({"last_used_at"})}
WATCHED = (ApiToken, User)
# Redis URL schemes that name one server the processes share (limits' own spelling included).
_SCHEMES = {"redis": "redis", "rediss": "rediss", "redis+unix": "unix", "unix": "unix"}
REDIS_TIMEOUT_SECONDS = 0.5

M = TypeVar("M", bound=SQLModel)


class GenerationUnavailable(RuntimeError):
    """Redis could not be told that tokens or their owners changed: the change is refused."""


def _values(row: SQLModel) -> dict[str, Any]:
    return {attr.key: getattr(row, attr.key) for attr in inspect(type(row)).column_attrs}


def _attach(db: Session, model: type[M], values: Mapping[str, Any]) -> M:
    """A row built from ``values`` in ``db``, as if just read (no statement)."""
    row = model(**copy.deepcopy(dict(values)))
    make_transient_to_detached(row)
    return db.merge(row, load=False)


@dataclass
class _Entry:
    generation: int
    filled: float
    token: dict[str, Any]
    owner: dict[str, Any]


def _start() -> int:
    return secrets.randbelow(2**62)


class TokenCache:
    """The process's cache of token rows and owners, and the generation counter in Redis."""

    def __init__(self, client: redis.Redis, key: str, seconds: float, size: int) -> None:
        self.client = client
        self.key = key
        self.seconds = seconds
        self.size = size
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether rows are kept at all (the counter is kept either way)."""
        return self.seconds > 0 and self.size > 0

    def generation(self) -> int | None:
        """The counter's value, or None when Redis is away."""
        try:
            value: bytes | None = self.client.get(self.key)  # type: ignore[assignment]
            if value is None:
                # A Redis without the key (new, or restarted without persistence) starts at a
                # random value: counting up from 0 again could meet an entry's old generation.
                self.client.set(self.key, _start(), nx=True)
                value = self.client.get(self.key)  # type: ignore[assignment]
        except redis.RedisError:
            current_app.logger.warning("token cache: Redis unreachable, reading the database")
            return None
        return int(value) if value is not None else None

    def bump(self) -> int:
        """Make every process's entries old; raises ``redis.RedisError`` when Redis is away."""
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self.key, _start(), nx=True)  # see generation()
        pipe.incr(self.key)
        _, value = pipe.execute()
        return int(value)

    def find(self, db: Session, secret: str) -> tuple[ApiToken, User] | None:
        """``tokens.find``, answered from the cache while its generation is current."""
        if not self.enabled or not secret.startswith(tokens.PREFIX) or len(secret) > 100:
            return tokens.find(db, secret)
        digest = tokens.digest(secret)
        generation = self.generation()  # before the database: a change in between is seen
        if generation is None:
            return tokens.find(db, secret)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None and (
                entry.generation != generation or now - entry.filled >= self.seconds
            ):
                del self._entries[digest]
                entry = None
            if entry is not None:
                self._entries.move_to_end(digest)
                token_values, owner_values = entry.token, entry.owner
        if entry is not None:
            return _attach(db, ApiToken, token_values), _attach(db, User, owner_values)
        found = tokens.find(db, secret)
        if found is not None:
            filled = _Entry(generation, now, _values(found[0]), _values(found[1]))
            with self._lock:
                self._entries[digest] = filled
                self._entries.move_to_end(digest)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return found

    def remember_use(self, token_hash: str, when: datetime) -> None:
        """The token's use was recorded: keep the copy in step, so it is not recorded again."""
        with self._lock:
            entry = self._entries.get(token_hash)
            if entry is not None:  # a new dict: a hit may be copying the old one
                entry.token = {**entry.token, "last_used_at": when}


def redis_url(storage_uri: str) -> str | None:
    """The shared Redis of the rate limiter's storage URI, as redis-py spells it, or None."""
    scheme, sep, rest = storage_uri.partition("://")
    target = _SCHEMES.get(scheme.lower())
    return f"{target}{sep}{rest}" if target is not None and sep else None


def init_app(app: Flask) -> None:
    """Keep the generation (and, with ``TOKEN_CACHE_SECONDS`` > 0, the cache) where a Redis
    is shared; nothing otherwise."""
    url = redis_url(str(app.config.get("RATELIMIT_STORAGE_URI") or ""))
    if url is None:
        return
    client = redis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    host = urlsplit(url).hostname or url
    app.logger.debug("token cache: generation in Redis at %s", host)
    app.extensions[EXTENSION] = TokenCache(
        client,
        str(app.config["TOKEN_CACHE_GENERATION_KEY"]),
        float(app.config["TOKEN_CACHE_SECONDS"]),
        int(app.config["TOKEN_CACHE_SIZE"]),
    )


def current() -> TokenCache | None:
    """The current app's cache, or None (no app, or no shared Redis)."""
    if not has_app_context():
        return None
    cache: TokenCache | None = current_app.extensions.get(EXTENSION)
    return cache


# --- what bumps the generation: the session's own events ---------------------------------


def _changed(row: object) -> bool:
    state = inspect(row)
    ignored = IGNORED.get(state.mapper.class_, frozenset())
    return any(attr.history.has_changes() for attr in state.attrs if attr.key not in ignored)


def _touches_tokens(session: OrmSession) -> bool:
    """Whether the session's pending changes include a token's or an owner's row."""
    if any(isinstance(row, WATCHED) for row in chain(session.new, session.deleted)):
        return True
    return any(isinstance(row, WATCHED) and _changed(row) for row in session.dirty)


def _note(session: OrmSession) -> None:
    cache = current()
    if cache is not None:
        session.info[_CHANGED] = True
        session.info[_CACHE] = cache


@event.listens_for(OrmSession, "after_flush")
def _after_flush(session: OrmSession, _context: Any) -> None:
    # Still the state before the flush here: new, dirty, deleted and each attribute's history.
    if not session.info.get(_CHANGED) and current() is not None and _touches_tokens(session):
        _note(session)


@event.listens_for(OrmSession, "do_orm_execute")
def _bulk(state: ORMExecuteState) -> None:
    # update(User)… / delete(ApiToken)… through the session: no unit of work sees them.
    mapper = state.bind_mapper
    writes = state.is_update or state.is_delete or state.is_insert
    if writes and mapper is not None and issubclass(mapper.class_, WATCHED):
        _note(state.session)


@event.listens_for(OrmSession, "before_commit")
def _before_commit(session: OrmSession) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's release: the outer transaction's commit bumps
    session.info[_COMMITTING] = True
    # The commit flushes after this hook: look at what is still pending too.
    if not session.info.get(_CHANGED) and current() is not None and _touches_tokens(session):
        _note(session)
    cache: TokenCache | None = session.info.get(_CACHE)
    if session.info.get(_CHANGED) and cache is not None:
        try:
            cache.bump()
        except redis.RedisError as exc:
            raise GenerationUnavailable(
                "Redis is unreachable: a change to API tokens or accounts is refused, because "
                "the other processes' token caches would not hear of it"
            ) from exc


@event.listens_for(OrmSession, "after_commit")
def _after_commit(session: OrmSession) -> None:
    if not session.info.pop(_COMMITTING, False):
        return  # a savepoint's release: the outer transaction is still open
    cache: TokenCache | None = session.info.pop(_CACHE, None)
    if session.info.pop(_CHANGED, False) and cache is not None:
        try:
            cache.bump()
        except redis.RedisError:
            # Bumped before the commit already: only a row read in between may stay cached,
            # for TOKEN_CACHE_SECONDS at most.
            if has_app_context():
                current_app.logger.warning("token cache: the second bump did not reach Redis")


@event.listens_for(OrmSession, "after_transaction_end")
def _after_transaction_end(session: OrmSession, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the whole transaction ended (rolled back, or committed)
        for key in (_CHANGED, _CACHE, _COMMITTING):
            session.info.pop(key, None)
