"""The tables. Names are singular; times are timezone-aware UTC everywhere.

All tables in one module, longer than the others for a reason: the schema is read as a
whole (foreign keys, the migrations' autogenerate comparison in tests/app/test_db.py), and
each table is a short declaration with the comment that says why a column exists.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from workflows.checks import Category
from workflows.delivery import BudgetType
from workflows.machine import State


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns them aware.

    SQLite has no time zones: it keeps the naive UTC value, and the zone is put
    back on the way out so that code never compares naive with aware times.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; adgate stores aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time(*, nullable: bool = False, now: bool = False) -> Any:
    column: Column[datetime] = Column(UTCDateTime(), nullable=nullable)
    if now:
        return Field(default_factory=utcnow, sa_column=column)
    if nullable:
        return Field(default=None, sa_column=column)
    return Field(sa_column=column)


def _closed(kind: type[StrEnum], length: int) -> Enum:
    """A column holding one of ``kind``'s values: stored as the plain string (the schema is a
    VARCHAR, no CHECK constraint, so adding a member needs no migration), read back as the
    member; a value outside ``kind`` is refused on the way in."""
    return Enum(
        kind,
        native_enum=False,
        create_constraint=False,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


# Deterministic constraint names, so that migrations can name what they alter or drop.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Role(StrEnum):
    """One role per account; what each may do is decided by the views' access rules."""

    MANAGER = "manager"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"
    ADMIN = "admin"


class User(SQLModel, table=True):
    """An account. E-mail addresses are stored lower-cased."""

    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(254), nullable=False, unique=True))
    role: Role = Field(sa_column=Column(_closed(Role, 16), nullable=False))
    password_hash: str = Field(sa_column=Column(String(255), nullable=False))
    active: bool = True
    locale: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))
    created_at: datetime = _time(now=True)
    # TOTP secret, Fernet-encrypted (app.crypto); set only once a code has confirmed it.
    totp_secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The secret shown during enrolment, until the user confirms it with a code.
    totp_pending: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # SHA-256 of the enrolment that was shown ``totp_pending`` (a nonce in its session
    # cookie): only that enrolment can confirm the secret.
    totp_pending_binding: str | None = Field(
        default=None, sa_column=Column(String(64), nullable=True)
    )
    totp_enabled_at: datetime | None = _time(nullable=True)
    # Failed passwords or codes since the last success or lock.
    failed_logins: int = 0
    # Locks imposed since the last success: each one lasts twice as long as the one before.
    lockouts: int = 0
    locked_until: datetime | None = _time(nullable=True)
    # The password was set by someone else (an admin, the command line): the next sign-in
    # changes it before anything else.
    must_change_password: bool = False
    # Counts changes of the credentials (password set or changed, 2FA reset or turned off): a
    # half-finished sign-in carries the count it began with and is void once it differs.
    credentials_version: int = 0
    # The admin who created the account on the pages (None: the command line, or before 0012).
    created_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True)
    )
    # A reviewer or admin created on the pages acts in that role only once a second person,
    # neither the account nor its creator, has confirmed it (app.auth.accounts.confirm).
    # Every other account is confirmed when it is created.
    confirmed_at: datetime | None = _time(nullable=True)
    confirmed_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True)
    )
    # Set when the person was erased: the e-mail is replaced, the account can never sign in.
    erased_at: datetime | None = _time(nullable=True)
    # The kinds of notification mail the person turned off (app.notifications.KINDS).
    mail_opt_out: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )

    @property
    def totp_enabled(self) -> bool:
        """Whether a confirmed TOTP secret guards this account."""
        return self.totp_secret is not None


class LoginSession(SQLModel, table=True):
    """A login, held on the server so that logout and disabling end it for real.

    The browser's signed cookie carries the random id; only its SHA-256 is stored.
    """

    __tablename__ = "login_session"

    id_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=False, index=True)
    )
    created_at: datetime = _time(now=True)
    expires_at: datetime = _time()
    ended_at: datetime | None = _time(nullable=True)
    # When this login last proved the second factor (sign-in or step-up).
    second_factor_at: datetime | None = _time(nullable=True)


class TotpUse(SQLModel, table=True):
    """A time step whose code a user has used: the primary key refuses a second use."""

    __tablename__ = "totp_use"

    user_id: int = Field(sa_column=Column(Integer, ForeignKey("user_account.id"), primary_key=True))
    step: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    used_at: datetime = _time(now=True)


class RecoveryCode(SQLModel, table=True):
    """A single-use recovery code, stored as a salted SHA-256 (the code has 100 random bits)."""

    __tablename__ = "recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=False, index=True)
    )
    salt: str = Field(sa_column=Column(String(32), nullable=False))
    digest: str = Field(sa_column=Column(String(64), nullable=False))
    used_at: datetime | None = _time(nullable=True)


class AuditEvent(SQLModel, table=True):
    """One link of the append-only, hash-chained audit log (see ``app.audit``)."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_subject", "subject_type", "subject_id", "seq"),
        Index("ix_audit_event_actor", "actor_type", "actor_id", "seq"),
        Index("ix_audit_event_kind", "kind", "seq"),
        Index("ix_audit_event_occurred_at_seq", "occurred_at", "seq"),
    )

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    occurred_at: datetime = _time()
    actor_type: str = Field(sa_column=Column(String(16), nullable=False))
    actor_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    subject_type: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    subject_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    # The body as canonical JSON; NULL once a purge cleared it (``purge_id`` says which).
    # Typed as appended: only a purge's SQL UPDATE clears it, and the readers that can
    # meet a cleared event (pages, dashboard, metrics, export, verify) check for None.
    data: str = Field(sa_column=Column(Text, nullable=True))
    request_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    # SHA-256 of ``data`` as stored: the hash covers this, so a cleared body still verifies.
    body_hash: str = Field(sa_column=Column(String(64), nullable=False))
    # The retention class (app.audit.kinds) when the event was appended.
    retention: str = Field(sa_column=Column(String(16), nullable=False))
    purge_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("audit_purge.id"), nullable=True),
    )


class AuditCheckpoint(SQLModel, table=True):
    """The chain's head at one moment, signed when a key is configured (see app.audit.integrity).

    The head is always an ``audit.checkpoint`` event, which is never purged, so a checkpoint
    can be checked against the chain for as long as the installation lives.
    """

    __tablename__ = "audit_checkpoint"
    # The newest checkpoint's time: an auditor's inbox, on every page.
    __table_args__ = (Index("ix_audit_checkpoint_taken_at", "taken_at"),)

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    head: str = Field(sa_column=Column(String(64), nullable=False))
    # Events present in the table at that moment (fewer than seq once a segment was purged).
    events: int = Field(sa_column=Column(BigInteger, nullable=False))
    taken_at: datetime = _time(now=True)
    key_id: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    signature: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))


class AuditSeal(SQLModel, table=True):
    """A purged segment: events up to ``up_to`` may have gaps, vouched for by ``kept_digest``.

    Purges deleted events until migration 0010; the table is frozen since (the database
    refuses every change) and the ``audit.format`` event lists its rows.
    """

    __tablename__ = "audit_seal"

    up_to: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    head: str = Field(sa_column=Column(String(64), nullable=False))
    sealed_at: datetime = _time(now=True)
    deleted: int = Field(sa_column=Column(BigInteger, nullable=False))
    kept: int = Field(sa_column=Column(BigInteger, nullable=False))
    # SHA-256 over "seq:hash\n" of every event kept up to ``up_to``, in order.
    kept_digest: str = Field(sa_column=Column(String(64), nullable=False))


class AuditPurge(SQLModel, table=True):
    """One purge: its authorization, signed with the audit key (see app.audit.retention).

    ``statement`` is the canonical JSON that was signed: the purge's id and time, the
    retention days and cutoff of each class it cleared, and how many bodies it cleared.
    The database keeps the rows insert-only.
    """

    __tablename__ = "audit_purge"

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    purged_at: datetime = _time()
    statement: str = Field(sa_column=Column(Text, nullable=False))
    key_id: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    signature: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))


class AuditPurgeCutoff(SQLModel, table=True):
    """What a purge may clear, as the database checks it: bodies of one retention class
    older than ``cutoff`` (never in the future; never the integrity class)."""

    __tablename__ = "audit_purge_cutoff"

    purge_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("audit_purge.id"),
            primary_key=True,
        )
    )
    retention: str = Field(sa_column=Column(String(16), primary_key=True))
    cutoff: datetime = _time()


class RunStatus(StrEnum):
    """Where a verification run stands (a running one whose process died reads as
    interrupted: app.audit.integrity.run_status)."""

    RUNNING = "running"
    OK = "ok"
    BROKEN = "broken"
    INTERRUPTED = "interrupted"


class AuditVerification(SQLModel, table=True):
    """One run of the chain verification started from the pages, with its progress."""

    __tablename__ = "audit_verification"

    id: int | None = Field(default=None, primary_key=True)
    started_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True)
    )
    started_at: datetime = _time(now=True)
    heartbeat_at: datetime = _time(now=True)
    finished_at: datetime | None = _time(nullable=True)
    status: RunStatus = Field(sa_column=Column(_closed(RunStatus, 16), nullable=False))
    total: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    checked: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    head: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    first_bad_event: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class AdAccount(SQLModel, table=True):
    """A Meta ad account registered in adgate, with the page it advertises for."""

    __tablename__ = "ad_account"

    id: str = Field(sa_column=Column(String(32), primary_key=True))  # "act_<digits>"
    page_id: str = Field(sa_column=Column(String(32), nullable=False))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    # Lost after too many rejected political ads, until an admin restores it.
    political_eligible: bool = True
    violations: int = 0
    created_at: datetime = _time(now=True)
    # ISO 4217: budgets are entered in its minor units (None until an admin records it).
    currency: str | None = Field(default=None, sa_column=Column(String(3), nullable=True))
    # What Meta answered when last asked about the account (GET act_<id>), and when.
    meta_checked_at: datetime | None = _time(nullable=True)
    meta_page_authorized: bool | None = Field(
        default=None, sa_column=Column(Boolean, nullable=True)
    )
    meta_currency: str | None = Field(default=None, sa_column=Column(String(3), nullable=True))
    meta_min_daily_budget: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    # An admin asked for Meta's answer: the worker (which alone talks to Meta) asks then.
    meta_check_requested_at: datetime | None = _time(nullable=True)
    # Why the last attempt to ask failed (Meta's message), until an answer comes.
    meta_check_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Meta throttles the account until then (X-Business-Use-Case-Usage): no call is made to
    # it before; the last usage Meta reported for it, as JSON.
    meta_throttled_until: datetime | None = _time(nullable=True)
    meta_usage: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Installation(SQLModel, table=True):
    """This installation of adgate: one row, made by the migration that created the table.

    Its ``name`` goes into the name of every object created at Meta, so that two
    installations on one ad account (a test and a production adgate) never take each
    other's objects for their own.
    """

    __tablename__ = "installation"

    id: int = Field(default=1, primary_key=True)
    name: str = Field(sa_column=Column(String(16), nullable=False, unique=True))
    created_at: datetime = _time(now=True)
    # Meta's X-App-Usage as last reported, and until when the whole app is throttled.
    app_usage: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    app_throttled_until: datetime | None = _time(nullable=True)
    # The last reconciliation of what Meta holds against what adgate tracks.
    reconciled_at: datetime | None = _time(nullable=True)


class PageAuthorization(SQLModel, table=True):
    """Meta authorized the ad account's page for SIEP ads in one country: recorded by a person
    who saw the evidence (provenance ``verified``). Revoked, never deleted."""

    __tablename__ = "page_authorization"
    __table_args__ = (
        # One current authorization per account and country; revoked ones are history.
        Index(
            "uq_page_authorization_current",
            "ad_account_id",
            "country",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    ad_account_id: str = Field(
        sa_column=Column(String(32), ForeignKey("ad_account.id"), nullable=False, index=True)
    )
    country: str = Field(sa_column=Column(String(2), nullable=False))
    # Since when Meta's authorization holds (as the evidence shows it).
    authorized_since: date = Field(sa_column=Column(Date, nullable=False))
    # What the person saw (a description: no document or screenshot is stored).
    evidence: str = Field(sa_column=Column(Text, nullable=False))
    # NULL: recorded on the server's command line.
    recorded_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True)
    )
    recorded_at: datetime = _time(now=True)
    revoked_at: datetime | None = _time(nullable=True)
    revoked_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True)
    )


class RegisteredDisclaimer(SQLModel, table=True):
    """A "paid for by" text registered at Meta for the ad account's page in one country
    (recorded, verified). Removed, never deleted."""

    __tablename__ = "registered_disclaimer"
    __table_args__ = (
        Index(
            "uq_registered_disclaimer_current",
            "ad_account_id",
            "country",
            "text",
            unique=True,
            sqlite_where=text("removed_at IS NULL"),
            postgresql_where=text("removed_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    ad_account_id: str = Field(
        sa_column=Column(String(32), ForeignKey("ad_account.id"), nullable=False, index=True)
    )
    country: str = Field(sa_column=Column(String(2), nullable=False))
    text: str = Field(sa_column=Column(String(255), nullable=False))
    evidence: str = Field(sa_column=Column(Text, nullable=False))
    recorded_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True)
    )
    recorded_at: datetime = _time(now=True)
    removed_at: datetime | None = _time(nullable=True)
    removed_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True)
    )


class AdImage(SQLModel, table=True):
    """An image an ad manager uploaded for ads: checked PNG or JPEG, kept as uploaded."""

    __tablename__ = "ad_image"
    __table_args__ = (Index("ix_ad_image_owner_sha256", "owner_id", "sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    content_type: str = Field(sa_column=Column(String(16), nullable=False))
    width: int
    height: int
    size: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _time(now=True)


class Checklist(SQLModel, table=True):
    """One ad on its way to Meta: the content, its classification, and the steps taken."""

    __tablename__ = "checklist"

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(
        sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=False, index=True)
    )
    title: str = Field(sa_column=Column(String(200), nullable=False))
    state: State = Field(sa_column=Column(_closed(State, 16), nullable=False, index=True))
    # Optimistic concurrency: every change increments it; a stale edit is refused.
    version: int = 1
    # What people are shown as the ad's version: counts changes of the ad itself (not of
    # its title, its classification or its steps).
    content_version: int = Field(
        default=1, sa_column=Column(Integer, nullable=False, server_default="1")
    )
    # The ad.
    page_id: str = Field(sa_column=Column(String(32), nullable=False))
    ad_account_id: str = Field(sa_column=Column(String(32), nullable=False))
    message: str = Field(sa_column=Column(Text, nullable=False))
    headline: str = Field(sa_column=Column(String(255), nullable=False))
    link_url: str = Field(sa_column=Column(String(2048), nullable=False))
    # ISO 3166 codes, upper-case, each once, sorted: ["CH", "LI"].
    countries: list[str] = Field(sa_column=Column(JSON, nullable=False))
    paid_for_by: str = Field(default="", sa_column=Column(String(255), nullable=False))
    dsa_payor: str = Field(default="", sa_column=Column(String(255), nullable=False))
    dsa_beneficiary: str = Field(default="", sa_column=Column(String(255), nullable=False))
    # Delivery: the budget in the ad account's minor units, the schedule, the placements.
    budget_type: BudgetType = Field(
        default=BudgetType.DAILY,
        sa_column=Column(_closed(BudgetType, 16), nullable=False, server_default="daily"),
    )
    budget_amount: int = Field(
        default=1000, sa_column=Column(BigInteger, nullable=False, server_default="1000")
    )
    start_time: datetime | None = _time(nullable=True)
    end_time: datetime | None = _time(nullable=True)
    placements: list[str] = Field(
        default_factory=lambda: ["facebook", "instagram"],
        sa_column=Column(JSON, nullable=False, server_default='["facebook", "instagram"]'),
    )
    image_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("ad_image.id"), nullable=True)
    )
    # The classification (all None until classified; an edit of the content clears it).
    category: Category | None = Field(
        default=None, sa_column=Column(_closed(Category, 16), nullable=True)
    )
    # Meta's topics (workflows.checks.SOCIAL_ISSUES), only for the SOCIAL_ISSUE category.
    social_issues: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    digitally_created_media: bool = False
    justification: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    suggested_probability: float | None = None
    flagged: bool = False
    signed_off_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True)
    )
    # The owner's attestation of 2FA on the Facebook account, with its wording.
    facebook_2fa_attested_at: datetime | None = _time(nullable=True)
    facebook_2fa_attestation: str | None = Field(
        default=None, sa_column=Column(Text, nullable=True)
    )
    # The four-eyes approval of one exact content.
    approved_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True)
    )
    approved_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    approved_at: datetime | None = _time(nullable=True)
    created_at: datetime = _time(now=True)
    updated_at: datetime = _time(now=True)


class IdentityVerification(SQLModel, table=True):
    """A reviewer saw a person's identity document: its type, country and expiry only.

    Never the document's number or image (data minimization, GDPR Art. 5(1)(c)).
    """

    __tablename__ = "identity_verification"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=False, index=True)
    )
    document_type: str = Field(sa_column=Column(String(32), nullable=False))
    issuing_country: str = Field(sa_column=Column(String(2), nullable=False))
    expires_on: date = Field(sa_column=Column(Date, nullable=False))
    verified_by: int = Field(
        sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=False)
    )
    verified_at: datetime = _time(now=True)
    revoked_at: datetime | None = _time(nullable=True)
    revoked_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True)
    )


class RequestState(StrEnum):
    """Where a request for an identity verification stands."""

    OPEN = "open"
    FULFILLED = "fulfilled"
    WITHDRAWN = "withdrawn"


class IdentityRequest(SQLModel, table=True):
    """A person asks the reviewers to verify their identity for one country.

    Who asks, for which country, and how it ended: never anything of the document (its image
    or number); the person shows it to a reviewer, who records an ``IdentityVerification``.
    """

    __tablename__ = "identity_request"
    __table_args__ = (
        # One open request per person and country: a second one (two clicks, two tabs) is
        # refused by the database, not by a look first.
        Index(
            "uq_identity_request_open",
            "requester_id",
            "country",
            unique=True,
            sqlite_where=text("state = 'open'"),
            postgresql_where=text("state = 'open'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    requester_id: int = Field(
        sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=False, index=True)
    )
    country: str = Field(sa_column=Column(String(2), nullable=False))
    state: RequestState = Field(
        default=RequestState.OPEN,
        sa_column=Column(_closed(RequestState, 16), nullable=False, index=True),
    )
    # What the person wants the reviewers to know (when they can come by); erased with them.
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _time(now=True)
    closed_at: datetime | None = _time(nullable=True)
    # The verification that fulfilled it.
    fulfilled_by: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("identity_verification.id"), nullable=True),
    )


class CommentKind(StrEnum):
    """What a word in a checklist's conversation is."""

    COMMENT = "comment"
    # A reviewer sent the ad back: the body is the reason.
    CHANGE_REQUEST = "change_request"


class Comment(SQLModel, table=True):
    """A word in a checklist's review conversation: a comment, or a reviewer's request for
    changes with its reason. Never edited or deleted: the thread is part of the record."""

    __tablename__ = "comment"
    __table_args__ = (
        CheckConstraint("kind IN ('comment', 'change_request')", name="kind"),
        # The latest change request of each of a manager's drafts (the inbox, on every page).
        Index("ix_comment_checklist_kind", "checklist_id", "kind", "id"),
        # …and whether its owner answered since: a probe per draft, not the newer comments.
        Index("ix_comment_checklist_author", "checklist_id", "author_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    checklist_id: int = Field(
        sa_column=Column(Integer, ForeignKey("checklist.id"), nullable=False, index=True)
    )
    author_id: int = Field(sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    # The checklist's version once the comment was written (a change request moves it): a
    # change request stays open while the checklist is at this version.
    checklist_version: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = _time(now=True)


# Where a submission keeps the id of each object it creates at Meta (an image: Meta's hash).
OBJECT_COLUMNS = {
    "campaign": "campaign_id",
    "adset": "adset_id",
    "image": "image_hash",
    "creative": "creative_id",
    "ad": "ad_id",
}


class Cleanup(StrEnum):
    """Removing what a submission left at Meta."""

    PENDING = "pending"
    DONE = "done"


class Submission(SQLModel, table=True):
    """A checklist's way through Meta, from queued to a final state."""

    __tablename__ = "submission"
    __table_args__ = (Index("ix_submission_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    checklist_id: int = Field(
        sa_column=Column(Integer, ForeignKey("checklist.id"), nullable=False, index=True)
    )
    # Follows the checklist's state: app.checklists.gate.transition sets it from the outcome
    # (workflows.machine.submission_status), nothing else does.
    status: State = Field(
        default=State.QUEUED,
        sa_column=Column(_closed(State, 16), nullable=False, index=True),
    )
    # What was approved and checked at submit time; the worker sends exactly this.
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = _time(now=True)
    updated_at: datetime = _time(now=True)
    # The worker's claim: who holds it until when (a dead worker's claim expires).
    attempts: int = 0
    next_attempt_at: datetime | None = _time(nullable=True)
    claimed_by: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    lease_until: datetime | None = _time(nullable=True)
    # The object being created when the worker last called Meta: after a crash or a
    # timeout it is looked up by name before it is created again.
    creating: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    campaign_id: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    adset_id: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    creative_id: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    ad_id: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    # Meta's hash of the ad's image in the ad account's image library (when it has one).
    image_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    # Meta's last error (code, subcode, messages, fbtrace_id), as JSON.
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    sent_at: datetime | None = _time(nullable=True)
    review_checked_at: datetime | None = _time(nullable=True)
    review_feedback: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Reading Meta's status: when next, and how long the pause between reads has grown to.
    review_next_at: datetime | None = _time(nullable=True)
    review_interval: float | None = None
    # Meta's effective_status as last read, and its issues_info (JSON) when it has issues.
    effective_status: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    issues_info: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Look-ups by name made since an ambiguous create (Meta may still be creating it).
    lookups: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # A status the worker is to set at Meta (ACTIVE when started, PAUSED when paused).
    status_change: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    # Objects of the submission that must go at Meta (withdrawn, blocked or failed after
    # something was created): pending until the worker removed them, then done.
    cleanup: Cleanup | None = Field(
        default=None, sa_column=Column(_closed(Cleanup, 16), nullable=True)
    )
    cleaned_at: datetime | None = _time(nullable=True)

    def object_ids(self) -> dict[str, str]:
        """The ids of what the submission created at Meta, by kind (images included)."""
        found = {kind: getattr(self, column) for kind, column in OBJECT_COLUMNS.items()}
        return {kind: str(value) for kind, value in found.items() if value}


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API: acts as its owner, limited to its scopes.

    Only the SHA-256 of the token is stored (the token carries 256 random bits, so a
    plain hash is enough); ``prefix`` is its first characters, to recognise it in lists.
    Tokens are revoked, never deleted: audit events name them by id.
    """

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=False, index=True)
    )
    name: str = Field(sa_column=Column(String(100), nullable=False))
    # Sorted: ["checklists:read", "checklists:write"].
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    prefix: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = _time(now=True)
    # Who issued it on the page; NULL when issued with ``flask tokens create`` on the server.
    created_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True)
    )
    expires_at: datetime = _time()
    last_used_at: datetime | None = _time(nullable=True)
    revoked_at: datetime | None = _time(nullable=True)
    revoked_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True)
    )


class IdempotencyKey(SQLModel, table=True):
    """An ``Idempotency-Key`` a token has used, and the first answer given for it.

    The primary key (token, key) makes concurrent duplicates race for one row: the
    winner runs the request, the others see it in progress or replay its answer.
    """

    __tablename__ = "idempotency_key"

    token_id: int = Field(
        sa_column=Column(Integer, ForeignKey("api_token.id"), primary_key=True, autoincrement=False)
    )
    key: str = Field(sa_column=Column(String(255), primary_key=True))
    # SHA-256 of method, path and canonical JSON body: the same key with another request is refused.
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = _time(now=True)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    # While running: until when the claim holds (a crashed request's key is taken over after it).
    locked_until: datetime | None = _time(nullable=True)
    status_code: int | None = None
    response_body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    location: str | None = Field(default=None, sa_column=Column(String(255), nullable=True))


class Invitation(SQLModel, table=True):
    """An admin's invitation of a person, by e-mail, to an account in a role.

    The mail carries a single-use link with a token of 256 random bits; only its SHA-256 is
    stored (like ``ApiToken``). Resending makes a new token and voids the old one. The
    account is made when the person accepts, with the password they choose; a reviewer or
    admin then waits for a second person's confirmation (``User.confirmed_at``), its creator
    being the inviting admin.
    """

    __tablename__ = "invitation"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(254), nullable=False, index=True))
    role: Role = Field(sa_column=Column(_closed(Role, 16), nullable=False))
    # The language of the mail and of the page the person sets the password on.
    locale: str = Field(sa_column=Column(String(8), nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = _time(now=True)
    created_by: int = Field(
        sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=False)
    )
    # When the current token was made (the invitation, or its last resending) and until when
    # it holds.
    sent_at: datetime = _time()
    sent_by: int = Field(sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=False))
    expires_at: datetime = _time()
    resent: int = 0
    accepted_at: datetime | None = _time(nullable=True)
    user_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True)
    )
    revoked_at: datetime | None = _time(nullable=True)
    revoked_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True)
    )


class OutboxMail(SQLModel, table=True):
    """A notification mail, written in the transaction of the event that causes it and sent
    by the worker after the commit (app.notifications).

    Subject and body are rendered when the event happens, in the recipient's language: a
    retry sends the same text, and the mail tells what was true then. The address is looked
    up when sending (an erased or disabled account gets nothing).
    """

    __tablename__ = "outbox_mail"
    __table_args__ = (Index("ix_outbox_mail_due", "sent_at", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    # The account it goes to; None for an invitation, which goes to the invited address.
    recipient_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("user_account.id"), nullable=True, index=True),
    )
    # The invitation the mail carries (app.auth.invitations), whose link holds ``secret``.
    invitation_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("invitation.id"), nullable=True)
    )
    # A secret the mail carries (an invitation's token), Fernet-encrypted (app.crypto); the
    # body holds a placeholder, filled in when sending. Erased once the mail is sent, or
    # when the invitation is resent, revoked or accepted.
    secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The checklist the mail is about, when it is about one.
    checklist_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("checklist.id"), nullable=True)
    )
    locale: str = Field(sa_column=Column(String(8), nullable=False))
    subject: str = Field(sa_column=Column(String(255), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    # The event and recipient: the same notification is never queued twice.
    dedup_key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    created_at: datetime = _time(now=True)
    attempts: int = 0
    next_attempt_at: datetime | None = _time(nullable=True)
    claimed_by: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    lease_until: datetime | None = _time(nullable=True)
    sent_at: datetime | None = _time(nullable=True)
    # Not sent on purpose (the account was erased or disabled, or opted out since): why.
    dropped: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class SchemaRevision(SQLModel, table=True):
    """A migration applied to this database, and whether it only adds.

    Written by the migrations themselves (app/migrations/env.py). A running app server of the
    previous release reads it in /readyz: a database ahead of that server's code by additive
    migrations only (a module attribute ``additive = True``) is one it can still serve.
    """

    __tablename__ = "schema_revision"

    revision: str = Field(sa_column=Column(String(32), primary_key=True))
    down_revision: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    additive: bool = Field(sa_column=Column(Boolean, nullable=False))
