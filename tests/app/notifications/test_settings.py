"""The account's notification settings: a checkbox per kind of the person's role, CSRF,
bad input refused with nothing changed, audited, in German and English."""

from __future__ import annotations

import json
import re

from flask import Flask
from sqlalchemy import select
from sqlmodel import col

from app.db import transaction
from app.models import User
from tests.app.conftest import Cast, signed_in
from tests.conftest import UserFactory, csrf_token

PAGE = "/account/notifications"


def opt_out(app: Flask, email: str) -> list[str]:
    with app.app_context(), transaction(write=False) as db:
        user = db.scalars(select(User).where(col(User.email) == email)).one()
        return list(user.mail_opt_out)


def boxes(page: str) -> dict[str, bool]:
    """The page's checkboxes: kind → checked."""
    return {
        m.group(1): " checked" in m.group(0)
        for m in re.finditer(r'<input[^>]*type="checkbox"[^>]*value="(\w+)"[^>]*>', page)
    }


def test_each_role_sees_its_kinds_all_on_at_first(cast: Cast) -> None:
    page = cast.manager.get(PAGE).get_data(as_text=True)
    assert boxes(page) == dict.fromkeys(
        ["changes_requested", "approved", "meta_outcome", "needs_person", "identity_expiring"],
        True,
    )
    assert 'href="/account/notifications"' in page  # in the navigation
    reviewer_page = cast.reviewer.get(PAGE).get_data(as_text=True)
    assert boxes(reviewer_page) == dict.fromkeys(
        ["ready_for_approval", "identity_requested", "identity_expiring"], True
    )


def test_turning_kinds_off_is_kept_and_audited(cast: Cast, app: Flask) -> None:
    response = cast.post(cast.manager, PAGE, {"on": ["approved", "needs_person"]})
    assert response.status_code == 302
    assert sorted(opt_out(app, "manager@example.org")) == [
        "changes_requested",
        "identity_expiring",
        "meta_outcome",
    ]
    page = cast.manager.get(PAGE).get_data(as_text=True)
    assert "Your notification settings are saved." in page
    assert boxes(page)["meta_outcome"] is False
    assert boxes(page)["approved"] is True
    [event] = cast.events("account.notifications_changed")
    assert json.loads(event.data)["off"] == [
        "changes_requested",
        "identity_expiring",
        "meta_outcome",
    ]
    # Saving the same again changes and audits nothing.
    cast.post(cast.manager, PAGE, {"on": ["approved", "needs_person"]})
    assert len(cast.events("account.notifications_changed")) == 1
    # Everything on again.
    every = ["changes_requested", "approved", "meta_outcome", "needs_person", "identity_expiring"]
    assert cast.post(cast.manager, PAGE, {"on": every}).status_code == 302
    assert opt_out(app, "manager@example.org") == []


def test_an_unknown_kind_is_refused_and_nothing_changes(cast: Cast, app: Flask) -> None:
    response = cast.post(cast.manager, PAGE, {"on": ["approved", "ready_for_approval"]})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in page
    assert 'id="on-errors"' in page
    assert opt_out(app, "manager@example.org") == []
    assert cast.events("account.notifications_changed") == []


def test_without_csrf_nothing_changes(cast: Cast, app: Flask) -> None:
    response = cast.manager.post(PAGE, data={"on": ["approved"]})
    assert response.status_code == 400
    assert opt_out(app, "manager@example.org") == []


def test_the_page_speaks_german(cast: Cast) -> None:
    page = cast.manager.get(PAGE, headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Benachrichtigungen per E-Mail" in page
    assert "Ein:e Prüfer:in hat meine Anzeige freigegeben" in page


def test_auditors_and_admins_have_no_notification_settings(
    app: Flask, make_user: UserFactory
) -> None:
    make_user("auditor@example.org", "auditor")
    auditor = signed_in(app, make_user, "auditor@example.org")
    assert auditor.get(PAGE).status_code == 403
    assert "/account/notifications" not in auditor.get("/").get_data(as_text=True)
    assert csrf_token(auditor, "/")
