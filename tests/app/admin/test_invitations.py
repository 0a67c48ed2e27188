"""Invitations through the pages: an admin invites, the person sets their own password from
a single-use link and enrols 2FA; resending, revoking and every refused link are audited."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlmodel import col

from app.auth import accounts, invitations
from app.db import transaction
from app.models import AuditEvent, Invitation, OutboxMail, User, utcnow
from tests.app.invite import (
    PASSWORD_OF_INVITEE,
    enrol,
    invitation,
    invite,
    invite_and_accept,
    mail_on,
    set_password,
    token_of,
)
from tests.conftest import AuthActions, UserFactory, csrf_token, english_client

VOID = "This link does not work"


def _events(app: Flask, kind: str) -> list[AuditEvent]:
    with app.app_context(), transaction(write=False) as db:
        query = select(AuditEvent).where(col(AuditEvent.kind) == kind).order_by(col(AuditEvent.seq))
        return list(db.scalars(query))


def _data(event: AuditEvent) -> dict[str, object]:
    data: dict[str, object] = json.loads(event.data)
    return data


def _user(app: Flask, email: str) -> User | None:
    with app.app_context(), transaction(write=False) as db:
        return accounts.find_user(db, email)


def _admin(app: Flask, client: FlaskClient, make_user: UserFactory) -> User:
    mail_on(app)
    admin = make_user("admin@example.org", "admin")
    assert AuthActions(client, make_user).login("admin@example.org").status_code == 302
    return admin


def test_invited_person_sets_password_then_enrols(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    admin = _admin(app, client, make_user)
    assert invite(client, "New.Person@Example.org", "manager", "de").status_code == 302
    page = client.get("/admin/invitations").get_data(as_text=True)
    assert "new.person@example.org" in page
    assert "admin@example.org" in page
    token = token_of(app, "new.person@example.org")
    invited = invitation(app, "new.person@example.org")
    # Only the token's SHA-256 is stored; the outbox keeps it encrypted, the body does not.
    assert invited.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert invited.locale == "de"
    assert invited.created_by == admin.id
    assert invited.expires_at - invited.sent_at == timedelta(hours=72)
    with app.app_context(), transaction(write=False) as db:
        mail = db.scalars(select(OutboxMail)).one()
        assert token not in mail.body
        assert token not in (mail.secret or "")
        assert mail.recipient_id is None
        assert mail.locale == "de"
        assert "Einladung" in mail.subject
        for event in db.scalars(select(AuditEvent)):
            assert token not in str(event.data)
    created = _events(app, "invitation.created")[-1]
    assert created.actor_id == str(admin.id)
    assert _data(created)["role"] == "manager"

    # The person: the link once, then a page without the token; a password of their own.
    person = english_client(app)
    opened = person.get(f"/invitation/open?token={token}")
    assert opened.headers["Location"] == "/invitation"
    form = person.get("/invitation").get_data(as_text=True)
    assert "admin@example.org" in form
    assert "new.person@example.org" in form
    assert token not in form
    bad = {"csrf_token": csrf_token(person, "/invitation")}
    for data in (
        {"new_password": "short", "confirm_password": "short"},
        {"new_password": PASSWORD_OF_INVITEE, "confirm_password": "another one entirely"},
        {},
    ):
        refused = person.post("/invitation", data={**data, **bad})
        assert refused.status_code == 400, data
        assert 'aria-invalid="true"' in refused.get_data(as_text=True)
    assert _user(app, "new.person@example.org") is None
    done = person.post(
        "/invitation",
        data={"new_password": PASSWORD_OF_INVITEE, "confirm_password": PASSWORD_OF_INVITEE, **bad},
    )
    assert done.headers["Location"] == "/two-factor/enrol"
    user = _user(app, "new.person@example.org")
    assert user is not None
    assert user.role == "manager"
    assert user.locale == "de"
    assert not user.must_change_password
    assert user.created_by == admin.id
    assert user.confirmed_at is not None  # a manager approves nothing: acts at once
    # Not signed in before the enrolment: nothing else opens.
    assert person.get("/").headers["Location"].startswith("/login")
    enrol(person)
    assert person.get("/").status_code == 200
    assert _user(app, "new.person@example.org").totp_enabled  # type: ignore[union-attr]
    accepted = _events(app, "invitation.accepted")[-1]
    assert _data(accepted)["user"] == user.id
    assert invitation(app, "new.person@example.org").accepted_at is not None
    with app.app_context(), transaction(write=False) as db:
        assert db.scalars(select(col(OutboxMail.secret))).one() is None  # erased once used

    # The link works once.
    again = english_client(app).get(f"/invitation/open?token={token}")
    assert again.status_code == 404
    assert VOID in again.get_data(as_text=True)
    assert _data(_events(app, "invitation.refused")[-1])["reason"] == "used"
    # The person's own password signs them in (with the authenticator's code).
    assert (
        AuthActions(english_client(app), make_user)
        .password("new.person@example.org", PASSWORD_OF_INVITEE)
        .headers["Location"]
        == "/login/code"
    )


def test_every_dead_link_looks_the_same_and_is_audited(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    _admin(app, client, make_user)
    pages = {}
    # Unknown (a guess), expired, revoked, and an address that has an account by now.
    pages["unknown"] = english_client(app).get("/invitation/open?token=" + "A" * 43)
    for email in ("late@example.org", "revoked@example.org", "taken@example.org"):
        assert invite(client, email, "auditor").status_code == 302
    late = token_of(app, "late@example.org")
    with app.app_context(), transaction() as db:
        db.execute(
            update(Invitation)
            .where(col(Invitation.email) == "late@example.org")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    pages["expired"] = english_client(app).get(f"/invitation/open?token={late}")
    revoked = token_of(app, "revoked@example.org")
    rid = invitation(app, "revoked@example.org").id
    token = csrf_token(client, "/admin/invitations")
    assert (
        client.post(f"/admin/invitations/{rid}/revoke", data={"csrf_token": token}).status_code
        == 302
    )
    pages["revoked"] = english_client(app).get(f"/invitation/open?token={revoked}")
    taken = token_of(app, "taken@example.org")
    make_user("taken@example.org", "manager")
    pages["email_taken"] = english_client(app).get(f"/invitation/open?token={taken}")
    bodies = set()
    for reason, response in pages.items():
        assert response.status_code == 404, reason
        body = response.get_data(as_text=True)
        assert VOID in body
        bodies.add(body.split("<main")[1].split("</main>")[0])
    assert len(bodies) == 1  # nothing tells the cases apart
    reasons = [_data(e)["reason"] for e in _events(app, "invitation.refused")]
    assert reasons == ["unknown", "expired", "revoked", "email_taken"]
    assert _events(app, "invitation.revoked")
    # The admin's list shows none of them as pending.
    listed = client.get("/admin/invitations").get_data(as_text=True).split('id="invitations"')[1]
    assert "revoked@example.org" not in listed
    assert "late@example.org" not in listed


def test_a_link_opened_then_revoked_or_taken_sets_nothing(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    _admin(app, client, make_user)
    invite(client, "slow@example.org", "reviewer")
    person = english_client(app)
    person.get(f"/invitation/open?token={token_of(app, 'slow@example.org')}")
    token = csrf_token(person, "/invitation")
    make_user("slow@example.org", "manager")  # meanwhile, an account for the address
    data = {"new_password": PASSWORD_OF_INVITEE, "confirm_password": PASSWORD_OF_INVITEE}
    response = person.post("/invitation", data={**data, "csrf_token": token})
    assert response.status_code == 404
    assert VOID in response.get_data(as_text=True)
    assert _user(app, "slow@example.org").role == "manager"  # type: ignore[union-attr]
    assert _data(_events(app, "invitation.refused")[-1])["reason"] == "email_taken"


def test_resend_makes_a_new_link_not_too_often(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    _admin(app, client, make_user)
    invite(client, "again@example.org", "manager")
    first = token_of(app, "again@example.org")
    iid = invitation(app, "again@example.org").id
    path = f"/admin/invitations/{iid}/resend"
    soon = client.post(path, data={"csrf_token": csrf_token(client, "/admin/invitations")})
    assert soon.status_code == 302
    assert "minutes at the earliest" in client.get("/admin/invitations").get_data(as_text=True)
    assert token_of(app, "again@example.org") == first
    assert not _events(app, "invitation.resent")
    app.config["INVITATION_RESEND_MINUTES"] = 0
    client.post(path, data={"csrf_token": csrf_token(client, "/admin/invitations")})
    second = token_of(app, "again@example.org")
    assert second != first
    assert _data(_events(app, "invitation.resent")[-1])["resent"] == 1
    with app.app_context(), transaction(write=False) as db:
        secrets = list(db.scalars(select(col(OutboxMail.secret)).order_by(col(OutboxMail.id))))
    assert secrets[0] is None  # the first mail, not sent yet, will not go
    assert english_client(app).get(f"/invitation/open?token={first}").status_code == 404
    assert set_password(english_client(app), second).headers["Location"] == "/two-factor/enrol"


def test_bad_invitations_are_refused_and_change_nothing(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    _admin(app, client, make_user)
    assert invite(client, "pending@example.org", "manager").status_code == 302
    for email, role, locale in (
        ("not an address", "manager", "en"),
        ("x@example.org", "emperor", "en"),
        ("x@example.org", "manager", "es"),  # a language adgate does not speak
        ("admin@example.org", "manager", "en"),  # an account exists
        ("pending@example.org", "manager", "en"),  # invited already: resend instead
    ):
        response = invite(client, email, role, locale)
        assert response.status_code == 400, email
        assert 'aria-invalid="true"' in response.get_data(as_text=True)
    app.config["MAIL_SERVER"] = None
    off = invite(client, "x@example.org", "manager")
    assert off.status_code == 400
    assert "No mail server" in off.get_data(as_text=True)
    assert len(_events(app, "invitation.created")) == 1
    assert invitation(app, "x@example.org") is None


def test_csrf_guards_every_invitation_form(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    _admin(app, client, make_user)
    invite(client, "csrf@example.org", "manager")
    iid = invitation(app, "csrf@example.org").id
    for path in (
        "/admin/invitations",
        f"/admin/invitations/{iid}/resend",
        f"/admin/invitations/{iid}/revoke",
    ):
        assert (
            client.post(path, data={"email": "y@example.org", "role": "admin"}).status_code == 400
        )
    person = english_client(app)
    person.get(f"/invitation/open?token={token_of(app, 'csrf@example.org')}")
    data = {"new_password": PASSWORD_OF_INVITEE, "confirm_password": PASSWORD_OF_INVITEE}
    assert person.post("/invitation", data=data).status_code == 400
    assert _user(app, "csrf@example.org") is None
    assert invitation(app, "y@example.org") is None
    assert invitation(app, "csrf@example.org").revoked_at is None


def test_an_invited_admin_waits_for_a_second_person(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    admin = _admin(app, client, make_user)
    sock = invite_and_accept(app, client, "second-me@example.org", "admin")
    user = _user(app, sock.email)
    assert user is not None
    assert user.confirmed_at is None
    assert user.created_by == admin.id
    # The inviting admin cannot confirm it; the invited admin cannot invite.
    with app.app_context(), transaction(write=False) as db:
        me = db.get(User, admin.id)
        assert me is not None
        refused = accounts.confirmation_refused(user, me)
        assert refused is not None
        assert refused.code == "confirm_creator"
    response = invite(sock.client, "third@example.org", "admin")
    assert response.headers["Location"] == "/admin/users"
    assert invitation(app, "third@example.org") is None


def test_a_signed_in_person_cannot_take_a_link(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    _admin(app, client, make_user)
    invite(client, "other@example.org", "manager")
    token = token_of(app, "other@example.org")
    assert client.get(f"/invitation/open?token={token}").headers["Location"] == "/"
    assert set_password(english_client(app), token).status_code == 302


def test_erasing_a_person_forgets_the_address_of_their_invitation(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    _admin(app, client, make_user)
    invitee = invite_and_accept(app, client, "forget.me@example.org", "manager")
    invite(client, "never.came@example.org", "auditor")
    result = app.test_cli_runner().invoke(args=["users", "erase", invitee.email, "--yes"])
    assert result.exit_code == 0, result.output
    with app.app_context(), transaction(write=False) as db:
        emails = set(db.scalars(select(col(Invitation.email))))
        assert "forget.me@example.org" not in emails
        assert "never.came@example.org" in emails
        mails = db.scalars(select(OutboxMail)).all()
        assert [m.kind for m in mails] == ["invitation"]  # the other person's only


def test_a_link_sent_twice_at_once_makes_one_account_and_a_clear_refusal(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    """The second of two requests that both found the link unused (two tabs, a double
    click) waits for the first on the invitation's row and finds it used: no second
    account, no failure on the address's uniqueness."""
    _admin(app, client, make_user)
    invite(client, "twice@example.org", "manager")
    with app.test_request_context("/"), transaction() as second:
        # The second request read the invitation before the first one accepted it.
        stale = second.scalars(
            select(Invitation).where(col(Invitation.email) == "twice@example.org")
        ).one()
        second.commit()
        with transaction() as first:
            found = first.get(Invitation, stale.id)
            assert found is not None
            accounts_before = len(first.scalars(select(User)).all())
            invitations.accept(first, found, PASSWORD_OF_INVITEE, utcnow())
        with pytest.raises(accounts.AccountError) as refused:
            invitations.accept(second, stale, PASSWORD_OF_INVITEE, utcnow())
        assert refused.value.code == "invitation_used"
        second.rollback()
    with app.app_context(), transaction(write=False) as db:
        assert len(db.scalars(select(User)).all()) == accounts_before + 1
