"""The API's request and response models: they validate requests, shape answers, and are
the source of the OpenAPI document (``app.api.spec``).

Text fields follow the rules of ``app.inputs`` (characters, lengths, patterns), the same
as the pages' forms: no control, bidi or zero-width characters; lengths fit the columns.

Longer than 500 lines on purpose: the models are the API's contract, read side by side,
and the OpenAPI document's one source.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from app import inputs
from app.models import Cleanup, CommentKind
from workflows.checks import DOCUMENT_TYPES, SOCIAL_ISSUES, Category, Provenance, Status
from workflows.delivery import (
    ALL_PLACEMENTS,
    DEFAULT_DAILY_BUDGET,
    MAX_BUDGET,
    BudgetType,
    Placement,
)
from workflows.machine import SUBMISSION_STATES, State


def _required(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _submission_state(value: State) -> State:
    if value not in SUBMISSION_STATES:
        raise ValueError(f"a submission is never {value}")
    return value


def _aware(value: datetime) -> datetime:
    try:
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the time is out of range") from exc


# Lengths, characters and patterns come from app.inputs, which the pages' forms use too.
Title = Annotated[
    str,
    inputs.api_field("title", min_length=1),
    AfterValidator(inputs.api_check("title")),
    AfterValidator(_required),
]
Country = Annotated[
    str, inputs.api_field("country", examples=["CH"]), AfterValidator(inputs.api_check("country"))
]
PageId = Annotated[
    str,
    inputs.api_field("page_id", examples=["2001"]),
    AfterValidator(inputs.api_check("page_id")),
]
AdAccountId = Annotated[
    str,
    inputs.api_field("ad_account_id", examples=["act_1001"]),
    AfterValidator(inputs.api_check("ad_account_id")),
]
Message = Annotated[
    str,
    inputs.api_field("message", min_length=1),
    AfterValidator(inputs.api_check("message")),
    AfterValidator(_required),
]
Headline = Annotated[
    str,
    inputs.api_field("headline", min_length=1),
    AfterValidator(inputs.api_check("headline")),
    AfterValidator(_required),
]
Link = Annotated[str, inputs.api_field("link_url"), AfterValidator(inputs.api_check("link_url"))]
PaidForBy = Annotated[
    str, inputs.api_field("paid_for_by"), AfterValidator(inputs.api_check("paid_for_by"))
]
DsaPayor = Annotated[
    str, inputs.api_field("dsa_payor"), AfterValidator(inputs.api_check("dsa_payor"))
]
DsaBeneficiary = Annotated[
    str, inputs.api_field("dsa_beneficiary"), AfterValidator(inputs.api_check("dsa_beneficiary"))
]
Justification = Annotated[
    str, inputs.api_field("justification"), AfterValidator(inputs.api_check("justification"))
]
CommentText = Annotated[
    str,
    inputs.api_field("comment", min_length=1),
    AfterValidator(inputs.api_check("comment")),
    AfterValidator(_required),
]
Email = Annotated[str, inputs.api_field("email"), AfterValidator(inputs.api_check("email"))]
AuditActor = Annotated[
    str, inputs.api_field("audit_actor"), AfterValidator(inputs.api_check("audit_actor"))
]
AuditKind = Annotated[
    str, inputs.api_field("audit_kind"), AfterValidator(inputs.api_check("audit_kind"))
]
Countries = Annotated[list[Country], Field(min_length=1, max_length=30)]
Time = Annotated[datetime, AfterValidator(_aware)]
# Closed sets without an enum of their own: tuples in workflows.checks.
Topic = Literal[SOCIAL_ISSUES]  # type: ignore[valid-type]
DocumentType = Literal[DOCUMENT_TYPES]  # type: ignore[valid-type]
Placements = Annotated[
    list[Placement],
    Field(min_length=1, max_length=2, description="facebook, instagram or both (each once)"),
]
ImageId = Annotated[int, Field(ge=1, le=2**31 - 1, description="an id from POST /images")]
# The states a submission can be in (workflows.machine.SUBMISSION_STATES), as the document
# lists them: every state but those before submitting.
SubmissionStatus = Annotated[
    State,
    AfterValidator(_submission_state),
    WithJsonSchema({"type": "string", "enum": [s.value for s in State if s in SUBMISSION_STATES]}),
]


class Strict(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


# --- requests ----------------------------------------------------------------


class BudgetIn(Strict):
    type: BudgetType | None = Field(
        default=None, description="daily or lifetime; default: daily (a PATCH keeps the type)"
    )
    amount: Annotated[int, Field(ge=1, le=MAX_BUDGET)] = Field(
        description="in the ad account's currency, in minor units (cents): 1000 is 10.00"
    )


class ScheduleIn(Strict):
    start_time: Time | None = Field(default=None, description="null: starts when activated")
    end_time: Time | None = Field(
        default=None, description="null: runs until stopped (a lifetime budget needs one)"
    )


class AdIn(Strict):
    page_id: PageId
    ad_account_id: AdAccountId
    message: Message
    headline: Headline
    link_url: Link
    countries: Countries
    paid_for_by: PaidForBy = ""
    dsa_payor: DsaPayor = ""
    dsa_beneficiary: DsaBeneficiary = ""
    budget: BudgetIn = Field(
        default_factory=lambda: BudgetIn(type=BudgetType.DAILY, amount=DEFAULT_DAILY_BUDGET),
        description=f"default: daily, {DEFAULT_DAILY_BUDGET} minor units (10.00)",
    )
    schedule: ScheduleIn = Field(
        default_factory=ScheduleIn, description="default: starts when activated, no end"
    )
    placements: Placements = Field(default_factory=lambda: list(ALL_PLACEMENTS))
    image: ImageId | None = Field(default=None, description="default: none")


class ChecklistIn(Strict):
    title: Title
    ad: AdIn


class AdPatch(Strict):
    page_id: PageId | None = None
    ad_account_id: AdAccountId | None = None
    message: Message | None = None
    headline: Headline | None = None
    link_url: Link | None = None
    countries: Countries | None = None
    paid_for_by: PaidForBy | None = None
    dsa_payor: DsaPayor | None = None
    dsa_beneficiary: DsaBeneficiary | None = None
    budget: BudgetIn | None = None
    schedule: ScheduleIn | None = None
    placements: Placements | None = None
    image: ImageId | None = Field(default=None, description="null removes the image")


class ChecklistPatch(Strict):
    """The fields to change; those left out keep their value."""

    title: Title | None = None
    ad: AdPatch | None = None


class ClassificationIn(Strict):
    category: Category
    social_issues: Annotated[list[Topic], Field(max_length=len(SOCIAL_ISSUES))] = []
    digitally_created_media: bool = False
    justification: Justification | None = None


class CommentIn(Strict):
    body: CommentText


class ChangeRequestIn(Strict):
    comment: CommentText = Field(description="what must change: the ad's owner reads it")


class ImageIn(Strict):
    data: Annotated[str, Field(min_length=4, max_length=12 * 1024 * 1024)] = Field(
        description="the PNG or JPEG file, base64-encoded (at most 8 MB decoded)"
    )


class IdentityIn(Strict):
    user: Email
    document_type: DocumentType
    issuing_country: Country
    expires_on: date


class Headers(BaseModel):
    """Request headers, matched case-insensitively (HTTP header names are)."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _lower(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {str(k).lower(): v for k, v in data.items()}
        return data


IdempotencyKeyValue = Annotated[
    str,
    Field(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$"),
]


class SubmitHeaders(Headers):
    idempotency_key: IdempotencyKeyValue = Field(
        alias="idempotency-key",
        description="Required. A client-chosen unique key (e.g. a UUID); a retry with the "
        "same key and body gets the first answer again.",
    )


class CreateHeaders(Headers):
    idempotency_key: IdempotencyKeyValue | None = Field(
        default=None, alias="idempotency-key", description="Optional, as for submit."
    )


class IfMatchHeaders(Headers):
    if_match: Annotated[str, Field(max_length=40)] = Field(
        alias="if-match",
        description='Required. The version the change is based on, as the ETag gave it ("3").',
    )


class OptionalIfMatchHeaders(Headers):
    if_match: Annotated[str, Field(max_length=40)] | None = Field(
        default=None, alias="if-match", description="Optional: refuse the change if stale."
    )


class ChangeRequestHeaders(CreateHeaders):
    if_match: Annotated[str, Field(max_length=40)] | None = Field(
        default=None,
        alias="if-match",
        description='Optional. The version the reviewer read ("3"); when the ad changed since, '
        "409 and nothing is sent back.",
    )


class OtpHeaders(Headers):
    x_otp: Annotated[str, Field(max_length=40)] = Field(
        alias="x-otp", description="Required. The reviewer's current TOTP code."
    )


class ApprovalHeaders(OtpHeaders):
    if_match: Annotated[str, Field(max_length=40)] = Field(
        alias="if-match",
        description="Required. The version the reviewer read and approves, as the ETag gave "
        'it ("3"); a stale one gets 409 and nothing is approved.',
    )


class ListQuery(Strict):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Annotated[str, Field(max_length=200)] | None = None


class ChecklistQuery(ListQuery):
    state: State | None = None


class AuditQuery(ListQuery):
    checklist: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    actor: AuditActor | None = Field(
        default=None, description='"user:5", "token:3", "system:adgate" or an e-mail address'
    )
    kind: AuditKind | None = Field(
        default=None,
        description='An event kind ("checklist.submit") or a prefix with * ("checklist.*")',
    )
    outcome: Literal["ok", "refused", "failed"] | None = Field(
        default=None,
        description="ok: done; refused: a blocked step, a refused request; failed: at Meta",
    )
    since: Time | None = None
    until: Time | None = None


# --- responses ---------------------------------------------------------------


class Budget(BaseModel):
    type: BudgetType
    amount: int = Field(description="minor units (cents) of currency")
    currency: str | None = Field(description="the ad account's (null: not recorded)")


class Schedule(BaseModel):
    start_time: datetime | None
    end_time: datetime | None


class ImageOut(BaseModel):
    id: int
    sha256: str
    content_type: str
    width: int
    height: int
    size: int


class Ad(BaseModel):
    page_id: str
    ad_account_id: str
    message: str
    headline: str
    link_url: str
    countries: list[str]
    paid_for_by: str
    dsa_payor: str
    dsa_beneficiary: str
    budget: Budget
    schedule: Schedule
    placements: list[Placement]
    image: ImageOut | None


class Classification(BaseModel):
    category: Category
    social_issues: list[str]
    digitally_created_media: bool
    justification: str | None
    suggested_probability: float | None
    flagged: bool = Field(description="NONE although the suggester finds the ad political")
    signed_off: bool = Field(description="a reviewer accepted the justification of a flagged NONE")


class Step(BaseModel):
    name: str
    status: Status
    code: str
    detail: str
    provenance: Provenance


class MetaIds(BaseModel):
    campaign_id: str | None
    adset_id: str | None
    creative_id: str | None
    ad_id: str | None


class UnmetOut(BaseModel):
    step: str
    code: str
    detail: str


class MetaErrorOut(BaseModel):
    """Why the submission stopped: Meta's error, or adgate's own check right before sending."""

    code: int | Literal["checks_failed"] | None = Field(
        default=None,
        description='Meta\'s error code, or "checks_failed" when a check no longer passed '
        "right before the first call to Meta (then ``unmet`` lists every unmet step)",
    )
    unmet: list[UnmetOut] | None = Field(
        default=None, description='the unmet steps, with code "checks_failed" only'
    )
    subcode: int | None = None
    message: str | None = None
    user_title: str | None = None
    user_message: str | None = None
    fbtrace_id: str | None = None
    blame_fields: list[str] = Field(default_factory=list)


class SubmissionOut(BaseModel):
    id: int
    checklist_id: int
    status: SubmissionStatus
    attempts: int
    meta: MetaIds | None
    error: MetaErrorOut | None
    effective_status: str | None = Field(description="Meta's effective_status as last read")
    review_feedback: dict[str, Any] | None = Field(
        description="Meta's ad_review_feedback (Meta's text, in English)"
    )
    issues_info: list[dict[str, Any]] = Field(
        description="Meta's issues_info: delivery or processing problems, not violations"
    )
    throttled_until: datetime | None = Field(
        description="Meta throttles the ad account until then; adgate waits"
    )
    removal: Cleanup | None = Field(
        description="what was already created at Meta is being removed (withdrawn, blocked, "
        "failed), or was"
    )
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


class CommentOut(BaseModel):
    id: int
    author: str = Field(description="the author's e-mail address")
    kind: CommentKind
    body: str
    created_at: datetime


class ChecklistOut(BaseModel):
    id: int
    title: str
    state: State
    version: int
    owner: str = Field(description="the owner's e-mail address")
    ad: Ad
    classification: Classification | None
    two_factor_attested_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    steps: list[Step]
    submission: SubmissionOut | None
    comments: list[CommentOut] = Field(description="the review conversation, oldest first")
    created_at: datetime
    updated_at: datetime


class ChecklistSummary(BaseModel):
    id: int
    title: str
    state: State
    version: int
    owner: str
    countries: list[str]
    updated_at: datetime


class ChecklistPage(BaseModel):
    checklists: list[ChecklistSummary]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null at the end")


class SubmitOut(BaseModel):
    submission: SubmissionOut


class IdentityOut(BaseModel):
    id: int
    user: str
    document_type: str
    issuing_country: str
    expires_on: date
    verified_by: str
    verified_at: datetime


class Actor(BaseModel):
    type: str
    id: str | None


class Subject(BaseModel):
    type: str | None
    id: str | None


class AuditEventOut(BaseModel):
    seq: int
    occurred_at: datetime
    actor: Actor
    kind: str
    subject: Subject
    data: dict[str, Any]
    request_id: str | None
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next_cursor: str | None


class VerifyOut(BaseModel):
    ok: bool
    events: int
    head: str
    first_bad_event: int | None
    reason: str | None


class ProblemItem(BaseModel):
    step: str | None = Field(default=None, description="the checklist step (blocked transitions)")
    field: str | None = Field(default=None, description="the request field (validation)")
    code: str
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="a stable URI: urn:adgate:problem:<name>")
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None = None
    errors: list[ProblemItem] | None = None
    current_version: int | None = None
