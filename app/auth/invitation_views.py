"""The invited person's pages: the mail's link, then their own password, then 2FA.

The link's token is in the query string once (which the access logs leave out): the first
request keeps only its hash in the signed session and redirects to a page without it, so
that the token stays out of the history, the
Referer header and later requests. A link that opens nothing (unknown, used, revoked,
expired, or its address has an account by now) shows one page that tells none of these
apart; the audit log keeps which it was.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from app.admin.forms import ROLE_LABELS
from app.auth import bp, invitations, limiter, twofactor
from app.auth.access import public
from app.auth.accounts import AccountError, find_user
from app.auth.forms import AcceptInvitationForm
from app.auth.views import _begin_pending, _complete_login, _password_rule
from app.db import get_session
from app.models import Invitation, User, utcnow

# The hash of the token whose link this browser opened.
INVITATION = "invitation"
# Every method: a guesser tries links with GET.
invitation_limit = limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])


def _void(status: int = 404) -> tuple[str, int]:
    session.pop(INVITATION, None)
    return render_template("auth/invitation_void.html"), status


@bp.get("/invitation/open")
@public
@invitation_limit
def invitation_open() -> Response | tuple[str, int]:
    """The mail's link: keep the token's hash in the session, go on without it in the URL.

    The token is in the query string, which the access logs leave out (docs/deploy: nginx
    logs ``$uri``, gunicorn ``%(U)s``): no log holds it."""
    token = request.args.get("token", "")
    if current_user.is_authenticated:
        flash(_("Sign out before you accept an invitation."), "warning")
        return redirect(url_for("main.index"))
    found = invitations.find(get_session(), token, utcnow())
    if isinstance(found, invitations.Refusal):
        invitation_id = None
        if found is not invitations.Refusal.UNKNOWN:
            row = invitations.find_by_digest(get_session(), invitations.token_digest(token))
            invitation_id = row.id if row is not None else None
        invitations.refused(found, invitation_id)
        return _void()
    session.clear()
    session[INVITATION] = found.token_hash
    session["lang"] = found.locale
    return redirect(url_for("auth.invitation"))


def _held() -> Invitation | None:
    """The invitation this browser opened, if it is still pending (else audited)."""
    digest = session.get(INVITATION)
    if not isinstance(digest, str):
        return None
    db, now = get_session(), utcnow()
    row = invitations.find_by_digest(db, digest)
    if row is None:
        # Resent since (a new token): the old link's hash finds nothing.
        invitations.refused(invitations.Refusal.UNKNOWN)
        return None
    # Looked up again by the hash: used, revoked, expired or taken since the link was opened.
    state = (
        invitations.Refusal.USED
        if row.accepted_at is not None
        else invitations.Refusal.REVOKED
        if row.revoked_at is not None
        else invitations.Refusal.EXPIRED
        if row.expires_at <= now
        else None
    )
    if state is None and find_user(db, row.email) is not None:
        state = invitations.Refusal.EMAIL_TAKEN
    if state is not None:
        invitations.refused(state, row.id)
        return None
    return row


def _page(invitation: Invitation, form: AcceptInvitationForm, status: int = 200) -> tuple[str, int]:
    inviter = get_session().get(User, invitation.created_by)
    return render_template(
        "auth/invitation.html",
        form=form,
        invitation=invitation,
        # The inviting admin's address, nothing else of them.
        inviter=inviter.email if inviter is not None else "",
        role=ROLE_LABELS[invitation.role],
        confirmation=invitation.role.value in ("reviewer", "admin"),
        min_length=current_app.config["PASSWORD_MIN_LENGTH"],
    ), status


@bp.route("/invitation", methods=["GET", "POST"])
@public
@invitation_limit
def invitation() -> Response | tuple[str, int]:
    """Choose a password; the account is made, and enrolment in 2FA comes next."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    held = _held()
    if held is None:
        return _void()
    form = AcceptInvitationForm()
    if not form.is_submitted():
        return _page(held, form)
    if not form.validate():
        return _page(held, form, 400)
    db, now = get_session(), utcnow()
    try:
        user = invitations.accept(db, held, form.new_password.data, now)
    except AccountError as exc:
        if exc.code == "email_taken":  # an account was made for the address meanwhile
            invitations.refused(invitations.Refusal.EMAIL_TAKEN, held.id)
            return _void(409)
        if exc.code == "invitation_used":  # the same link was sent twice at once
            invitations.refused(invitations.Refusal.USED, held.id)
            return _void(409)
        form.new_password.errors.append(_password_rule(exc))
        return _page(held, form, 400)
    user.locale = held.locale
    db.add(user)
    db.flush()
    next_url = url_for("main.index")
    if twofactor.required_for(user):
        # Signed in only once a code from the new authenticator confirms the enrolment.
        _begin_pending(user, "enrol", next_url)
        session["lang"] = held.locale
        flash(_("Your password is set. Now set up two-factor authentication."), "success")
        return redirect(url_for("auth.enrol"))
    _complete_login(user, next_url, None)
    flash(_("Your password is set. Welcome to adgate."), "success")
    return redirect(next_url)
