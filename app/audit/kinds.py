"""The catalogue of audit event kinds: a label, an outcome and a retention class for each.

The outcome says whether an event records something done ("ok"), something refused
("refused": a blocked step, a forbidden page, a wrong code) or something that failed at
Meta ("failed"). The retention class decides how long ``flask audit purge`` keeps it:

- ``reads``: who looked at what (the log, identity records);
- ``security``: sign-ins, codes, refusals, accounts and tokens;
- ``evidence``: how each ad was checked, approved, submitted and reviewed;
- ``integrity``: checkpoints, purges and format changes, which the chain's verification
  needs: kept forever.

A kind not in the catalogue is treated as evidence, the longest-lived class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from workflows.machine import Event

OK, REFUSED, FAILED = "ok", "refused", "failed"
OUTCOMES = (OK, REFUSED, FAILED)
READS, SECURITY, EVIDENCE, INTEGRITY = "reads", "security", "evidence", "integrity"
CLASSES = (READS, SECURITY, EVIDENCE, INTEGRITY)
# A step refused because checks are unmet (its data lists them under "unmet").
CHECKLIST_REFUSED = "checklist.refused"
# The worker's last check before Meta: a submit that got through, stopped before sending
# (its data lists the checks under "blocked").
SEND_BLOCKED = "checklist.send_blocked"


@dataclass(frozen=True)
class Kind:
    """What the catalogue knows about one event kind."""

    name: str
    label: Any  # a lazy string
    outcome: str = OK
    retention: str = EVIDENCE


_TRANSITIONS = {
    Event.EDIT: _l("Ad changed"),
    Event.APPROVE: _l("Ad approved (four eyes)"),
    Event.REQUEST_CHANGES: _l("Changes requested by a reviewer"),
    Event.SUBMIT: _l("Ad submitted"),
    Event.SEND: _l("Sending to Meta started"),
    Event.CONFIRM: _l("Meta accepted the ad"),
    Event.RETRY: _l("Sending retried"),
    Event.FAIL: _l("Sending failed"),
    Event.PARK: _l("Held: Meta blocked the call for policy reasons"),
    Event.RESUME: _l("Sending resumed after a hold"),
    Event.META_APPROVE: _l("Meta's review passed: paused"),
    Event.META_DELIVER: _l("Meta delivers the ad"),
    Event.META_PAUSE: _l("Paused at Meta"),
    Event.META_ISSUES: _l("Delivery issues at Meta"),
    Event.META_BILLING: _l("Billing blocked at Meta"),
    Event.META_REMOVE: _l("Removed at Meta"),
    Event.REVIEW_REJECT: _l("Meta's review rejected the ad"),
    Event.ACTIVATE: _l("Ad started"),
    Event.ACTIVATION_FAILED: _l("Starting failed at Meta"),
    Event.PAUSE: _l("Ad paused"),
    Event.PAUSE_FAILED: _l("Pausing failed at Meta"),
    Event.WITHDRAW: _l("Ad withdrawn"),
}

_KINDS = [
    Kind("access.csrf_refused", _l("Form refused (expired or forged)"), REFUSED, SECURITY),
    Kind("access.forbidden", _l("Access refused"), REFUSED, SECURITY),
    Kind("access.rate_limited", _l("Too many requests"), REFUSED, SECURITY),
    Kind("account.created", _l("Account created"), OK, SECURITY),
    # What an approval or verification by the account rests on: kept as long as they are.
    Kind("account.confirmed", _l("Account confirmed by a second person"), OK, EVIDENCE),
    Kind("account.disabled", _l("Account disabled"), OK, SECURITY),
    Kind("account.enabled", _l("Account enabled"), OK, SECURITY),
    Kind("account.password_changed", _l("Password changed"), OK, SECURITY),
    Kind("account.erased", _l("Person erased"), OK, EVIDENCE),
    Kind("account.notifications_changed", _l("Notification mails changed"), OK, SECURITY),
    Kind("invitation.created", _l("Person invited"), OK, SECURITY),
    Kind("invitation.resent", _l("Invitation sent again (new link)"), OK, SECURITY),
    Kind("invitation.revoked", _l("Invitation revoked"), OK, SECURITY),
    Kind("invitation.accepted", _l("Invitation accepted: password set"), OK, SECURITY),
    Kind("invitation.refused", _l("Invitation link refused"), REFUSED, SECURITY),
    Kind("ad_account.added", _l("Ad account registered"), OK, EVIDENCE),
    Kind("ad_account.violation", _l("Policy violation at Meta"), FAILED, EVIDENCE),
    Kind("ad_account.eligibility_lost", _l("Ad account lost eligibility"), FAILED, EVIDENCE),
    Kind("ad_account.restored", _l("Ad account eligibility restored"), OK, EVIDENCE),
    Kind("ad_account.currency_set", _l("Ad account currency recorded"), OK, EVIDENCE),
    Kind("ad_account.authorized", _l("Page authorization at Meta recorded"), OK, EVIDENCE),
    Kind(
        "ad_account.authorization_revoked", _l("Page authorization at Meta revoked"), OK, EVIDENCE
    ),
    Kind("ad_account.disclaimer_registered", _l("Registered disclaimer recorded"), OK, EVIDENCE),
    Kind("ad_account.disclaimer_removed", _l("Registered disclaimer removed"), OK, EVIDENCE),
    Kind("ad_account.meta_checked", _l("Ad account checked at Meta"), OK, EVIDENCE),
    Kind("ad_account.meta_check_requested", _l("Check at Meta asked for"), OK, EVIDENCE),
    Kind("ad_account.meta_check_failed", _l("Check at Meta failed"), FAILED, EVIDENCE),
    Kind("api.unauthorized", _l("API call without a valid token"), REFUSED, SECURITY),
    Kind("audit.read", _l("Audit log read"), OK, READS),
    Kind("audit.exported", _l("Audit log exported"), OK, READS),
    Kind("audit.verified", _l("Audit chain verified"), OK, READS),
    Kind("audit.checkpoint", _l("Checkpoint of the chain"), OK, INTEGRITY),
    Kind("audit.purged", _l("Contents of expired events cleared"), OK, INTEGRITY),
    Kind("audit.format", _l("Audit log format changed"), OK, INTEGRITY),
    Kind("audit.ip_key_rotated", _l("Key for client addresses rotated"), OK, INTEGRITY),
    Kind("auth.login", _l("Signed in"), OK, SECURITY),
    Kind("auth.logout", _l("Signed out"), OK, SECURITY),
    Kind("auth.login_failed", _l("Sign-in failed"), REFUSED, SECURITY),
    Kind("auth.code_failed", _l("Wrong security code"), REFUSED, SECURITY),
    Kind("auth.password_failed", _l("Wrong password (signed in)"), REFUSED, SECURITY),
    Kind("auth.locked", _l("Account locked after failures"), REFUSED, SECURITY),
    Kind("checklist.created", _l("Ad created"), OK, EVIDENCE),
    Kind("checklist.attested", _l("Facebook 2FA attested"), OK, EVIDENCE),
    Kind("checklist.checks_changed", _l("Check results changed"), OK, EVIDENCE),
    Kind("checklist.commented", _l("Comment on the ad"), OK, EVIDENCE),
    Kind("checklist.classification_signed_off", _l("Classification signed off"), OK, EVIDENCE),
    Kind("checklist.refused", _l("Step refused: checks unmet"), REFUSED, EVIDENCE),
    Kind("image.uploaded", _l("Ad image uploaded"), OK, EVIDENCE),
    Kind("identity.verified", _l("Identity verified"), OK, EVIDENCE),
    Kind("identity.revoked", _l("Identity verification revoked"), OK, EVIDENCE),
    Kind("identity.read", _l("Identity records read"), OK, READS),
    Kind("identity.requested", _l("Identity verification asked for"), OK, EVIDENCE),
    Kind("identity.request_withdrawn", _l("Request for a verification withdrawn"), OK, EVIDENCE),
    Kind("identity.request_fulfilled", _l("Request for a verification fulfilled"), OK, EVIDENCE),
    Kind("notification.sent", _l("Notification mail sent"), OK, EVIDENCE),
    Kind("notification.dropped", _l("Notification mail not sent (opted out or account gone)")),
    Kind("submission.queued", _l("Submission queued"), OK, EVIDENCE),
    Kind("submission.duplicates_removed", _l("Duplicate objects removed at Meta"), OK, EVIDENCE),
    Kind("submission.removal_started", _l("Removal at Meta started"), OK, EVIDENCE),
    Kind("submission.objects_removed", _l("Objects removed at Meta"), OK, EVIDENCE),
    Kind("submission.removal_failed", _l("Removal at Meta failed"), FAILED, EVIDENCE),
    Kind("submission.status_set", _l("Status set at Meta"), OK, EVIDENCE),
    Kind("ad_account.throttled", _l("Meta throttles the ad account"), FAILED, EVIDENCE),
    Kind("meta.app_throttled", _l("Meta throttles the app"), FAILED, EVIDENCE),
    Kind("meta.reconciled", _l("Objects at Meta reconciled"), OK, EVIDENCE),
    Kind("meta.untracked_object", _l("Untracked object at Meta removed"), FAILED, EVIDENCE),
    Kind("meta.webhook", _l("Webhook from Meta received"), OK, EVIDENCE),
    Kind("meta.webhook_refused", _l("Webhook refused (bad signature or token)"), REFUSED, SECURITY),
    Kind("submission.object_created", _l("Object created at Meta"), OK, EVIDENCE),
    Kind("submission.taken_over", _l("Submission taken over by another worker"), OK, EVIDENCE),
    Kind("token.created", _l("API token issued"), OK, SECURITY),
    Kind("token.revoked", _l("API token revoked"), OK, SECURITY),
    Kind("twofactor.enabled", _l("Two-factor authentication on"), OK, SECURITY),
    Kind("twofactor.disabled", _l("Two-factor authentication off"), OK, SECURITY),
    Kind("twofactor.enrolment_failed", _l("Two-factor enrolment failed"), REFUSED, SECURITY),
    Kind("twofactor.recovery_code_used", _l("Recovery code used"), OK, SECURITY),
    Kind("twofactor.recovery_codes_generated", _l("Recovery codes generated"), OK, SECURITY),
    Kind("twofactor.reset", _l("Two-factor reset by an administrator"), OK, SECURITY),
    Kind("twofactor.secrets_reencrypted", _l("Two-factor secrets re-encrypted"), OK, SECURITY),
]
# Written before the lifecycle followed Meta's statuses (migration 0009); kept to show old logs.
_KINDS.append(Kind("checklist.review_pass", _l("Meta's review passed: live")))
for _event, _label in _TRANSITIONS.items():
    _failed = _event in (
        Event.FAIL,
        Event.REVIEW_REJECT,
        Event.ACTIVATION_FAILED,
        Event.PAUSE_FAILED,
        Event.PARK,
    )
    _KINDS.append(Kind(f"checklist.{_event.value}", _label, FAILED if _failed else OK))
    _KINDS.append(
        Kind(f"checklist.{_event.value}_blocked", _l("Ad blocked: checks unmet"), REFUSED)
    )

CATALOGUE: dict[str, Kind] = {k.name: k for k in _KINDS}


def lookup(kind: str) -> Kind:
    """The catalogue's entry, or an evidence entry labelled with the kind itself."""
    return CATALOGUE.get(kind) or Kind(kind, kind)


def with_outcome(outcome: str) -> list[str]:
    """Every catalogued kind with this outcome (for the outcome filter)."""
    return sorted(k.name for k in _KINDS if k.outcome == outcome)


def in_class(retention: str) -> list[str]:
    """Every catalogued kind in this retention class."""
    return sorted(k.name for k in _KINDS if k.retention == retention)
