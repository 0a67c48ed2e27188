"""Meta's authorization of an ad account's page, recorded by admins: the command line, the
admin's page (with a fresh second factor), what Meta itself answers, and what the checklist
makes of it."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from sqlalchemy import select
from sqlmodel import col

from app.db import transaction
from app.models import AdAccount, PageAuthorization, RegisteredDisclaimer
from app.submissions.worker import Worker
from tests.app.conftest import Cast, Sandbox, register_unknown_at_meta

GEMEINDE = "Gemeinde Beispielhausen"
EVIDENCE = "Page settings at Meta, issue, electoral or political ads, seen on 2026-12-01"


def current(app: Flask, account_id: str) -> dict[str, list[str]]:
    """The current authorizations of an account: country → its registered disclaimers."""
    with app.app_context(), transaction(write=False) as db:
        countries = db.scalars(
            select(PageAuthorization.country).where(  # type: ignore[call-overload]
                col(PageAuthorization.ad_account_id) == account_id,
                col(PageAuthorization.revoked_at).is_(None),
            )
        ).all()
        texts = db.scalars(
            select(RegisteredDisclaimer).where(
                col(RegisteredDisclaimer.ad_account_id) == account_id,
                col(RegisteredDisclaimer.removed_at).is_(None),
            )
        ).all()
    return {c: sorted(d.text for d in texts if d.country == c) for c in sorted(countries)}


def test_the_command_line_records_and_revokes_an_authorization(cast: Cast, app: Flask) -> None:
    runner = app.test_cli_runner()
    added = runner.invoke(
        args=["ad-accounts", "add", "act_1002", "--page", "2002", "--name", GEMEINDE,
              "--currency", "chf"]
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    authorize = ["ad-accounts", "authorize", "act_1002", "--country", "CH", "--country", "li",
                 "--disclaimer", GEMEINDE, "--evidence", EVIDENCE]  # fmt: skip
    result = runner.invoke(args=authorize)
    assert result.exit_code == 0, result.output
    assert current(app, "act_1002") == {"CH": [GEMEINDE], "LI": [GEMEINDE]}
    again = runner.invoke(args=authorize)
    assert "recorded already" in again.output
    assert len(cast.events("ad_account.authorized")) == 4  # act_1001's two and these two
    [first, *_] = [e for e in cast.events("ad_account.authorized") if e.subject_id == "act_1002"]
    assert json.loads(first.data)["evidence"] == EVIDENCE
    assert first.actor_type == "system"

    removed = runner.invoke(
        args=["ad-accounts", "deauthorize", "act_1002", "--country", "LI", "--disclaimer", GEMEINDE]
    )
    assert removed.exit_code == 0, removed.output
    assert current(app, "act_1002") == {"CH": [GEMEINDE], "LI": []}
    revoked = runner.invoke(args=["ad-accounts", "deauthorize", "act_1002", "--country", "CH"])
    assert "CH revoked" in revoked.output
    assert current(app, "act_1002") == {"LI": []}
    listed = runner.invoke(args=["ad-accounts", "list"])
    assert "act_1002\t2002" in listed.output
    assert "LI since" in listed.output


@pytest.mark.parametrize(
    "args",
    [
        ["authorize", "act_1001", "--country", "XX"],
        ["authorize", "act_4242", "--country", "CH"],
        ["authorize", "act_1001", "--country", "AT", "--evidence", "no"],
        ["deauthorize", "act_4242", "--country", "CH"],
        ["currency", "act_1001", "JPY"],
    ],
)
def test_bad_command_line_input_changes_nothing(cast: Cast, app: Flask, args: list[str]) -> None:
    before = current(app, "act_1001")
    events = len(cast.events())
    result = app.test_cli_runner().invoke(args=["ad-accounts", *args])
    assert result.exit_code != 0
    assert current(app, "act_1001") == before
    assert len(cast.events()) == events


def test_an_admin_records_an_authorization_with_a_fresh_code(cast: Cast, app: Flask) -> None:
    app.test_cli_runner().invoke(
        args=["ad-accounts", "add", "act_1002", "--page", "2002", "--name", GEMEINDE,
              "--currency", "CHF"]
    )  # fmt: skip
    app.config["STEP_UP_MAX_AGE_SECONDS"] = 0  # never fresh: every recording asks for a code
    path = "/admin/ad-accounts/act_1002/authorizations"
    form = {"country": "CH", "disclaimer": GEMEINDE, "evidence": EVIDENCE}

    assert cast.post(cast.admin, path, {**form, "code": "000000"}).status_code == 400
    assert cast.post(cast.admin, path, {**form, "evidence": "", "code": "1"}).status_code == 400
    assert cast.post(cast.admin, path, {**form, "country": "DE"}).status_code == 400  # EU
    assert current(app, "act_1002") == {}
    assert cast.events("auth.code_failed")

    recorded = cast.post(cast.admin, path, {**form, "code": cast.code("admin@example.org")})
    assert recorded.status_code == 302
    assert current(app, "act_1002") == {"CH": [GEMEINDE]}
    with app.app_context(), transaction(write=False) as db:
        fact = db.scalars(select(PageAuthorization)).all()[-1]
        assert fact.recorded_by is not None
        assert fact.evidence == EVIDENCE
    page = cast.admin.get("/admin/ad-accounts/act_1002").get_data(as_text=True)
    assert 'data-country="CH"' in page
    assert "admin@example.org" in page

    # A second disclaimer, then one removed, then the country revoked with what was left.
    cast.post(
        cast.admin,
        "/admin/ad-accounts/act_1002/disclaimers",
        {"country": "CH", "text": "Gemeinde B.", "evidence": EVIDENCE,
         "code": cast.code("admin@example.org")},
    )  # fmt: skip
    assert current(app, "act_1002") == {"CH": ["Gemeinde B.", GEMEINDE]}
    with app.app_context(), transaction(write=False) as db:
        short = db.scalars(
            select(RegisteredDisclaimer).where(col(RegisteredDisclaimer.text) == "Gemeinde B.")
        ).one()
    cast.post(cast.admin, f"/admin/ad-accounts/act_1002/disclaimers/{short.id}/remove")
    assert current(app, "act_1002") == {"CH": [GEMEINDE]}
    cast.post(cast.admin, "/admin/ad-accounts/act_1002/authorizations/CH/revoke")
    assert current(app, "act_1002") == {}
    kinds = [e.kind for e in cast.events() if e.subject_id == "act_1002"]
    assert kinds.count("ad_account.disclaimer_removed") == 1
    [revoked] = cast.events("ad_account.authorization_revoked")
    assert json.loads(revoked.data) == {"country": "CH", "disclaimers_removed": [GEMEINDE]}


def test_the_checklist_follows_what_the_admin_records(cast: Cast, app: Flask) -> None:
    app.test_cli_runner().invoke(
        args=["ad-accounts", "add", "act_1002", "--page", "2002", "--name", GEMEINDE,
              "--currency", "CHF"]
    )  # fmt: skip
    checklist_id = cast.create(ad_account_id="act_1002", page_id="2002", paid_for_by=GEMEINDE)
    cast.classify(checklist_id, "ELECTORAL")
    steps = cast.steps(cast.manager, checklist_id)
    assert (steps["standing"], steps["disclaimer"]) == ("failed", "failed")
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert 'data-code="standing.not_authorized"' in page
    assert 'data-code="disclaimer.not_registered"' in page
    app.test_cli_runner().invoke(
        args=["ad-accounts", "authorize", "act_1002", "--country", "CH", "--disclaimer", "Gemeinde"]
    )
    steps = cast.steps(cast.manager, checklist_id)
    assert (steps["standing"], steps["disclaimer"]) == ("passed", "failed")
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    # Side by side: the ad's text and the one registered at Meta.
    assert f"“{GEMEINDE}” is not registered at Meta for CH. Registered there: “Gemeinde”." in page


def test_metas_own_answer_is_kept_beside_the_record_and_can_block(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    runner = app.test_cli_runner()
    runner.invoke(
        args=["ad-accounts", "add", "act_1002", "--page", "2002", "--name", GEMEINDE,
              "--currency", "CHF"]
    )  # fmt: skip
    # An admin records an authorization in CH that Meta does not have.
    runner.invoke(
        args=["ad-accounts", "authorize", "act_1002", "--country", "CH", "--disclaimer", GEMEINDE]
    )
    checklist_id = cast.create(ad_account_id="act_1002", page_id="2002", paid_for_by=GEMEINDE)
    cast.classify(checklist_id, "ELECTORAL")
    assert cast.steps(cast.manager, checklist_id)["standing"] == "passed"

    asked = runner.invoke(args=["ad-accounts", "check", "act_1002"])
    assert asked.exit_code == 0, asked.output
    assert "page authorized=False" in asked.output
    with app.app_context(), transaction(write=False) as db:
        account = db.get(AdAccount, "act_1002")
        assert account is not None
        assert (account.meta_page_authorized, account.meta_currency) == (False, "CHF")
        assert account.meta_min_daily_budget == 100
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert 'data-code="standing.meta_not_authorized"' in page

    # The admin's page asks Meta too, through the worker (only workers talk to Meta).
    answer = cast.post(cast.admin, "/admin/ad-accounts/act_1001/meta-check")
    assert answer.status_code == 302
    shown = cast.admin.get("/admin/ad-accounts/act_1001").get_data(as_text=True)
    assert 'id="meta-check-pending"' in shown
    with app.app_context():
        assert worker.check_accounts() == 1
        assert worker.check_accounts() == 0  # answered: not asked again
    shown = cast.admin.get("/admin/ad-accounts/act_1001").get_data(as_text=True)
    assert 'id="meta-page-authorized">yes' in shown
    assert len(cast.events("ad_account.meta_checked")) == 2

    # An account Meta does not know: the failure is shown, and not asked again by itself.
    register_unknown_at_meta(app, "act_1003", "2003")
    cast.post(cast.admin, "/admin/ad-accounts/act_1003/meta-check")
    with app.app_context():
        assert worker.check_accounts() == 0
        assert worker.check_accounts() == 0
    shown = cast.admin.get("/admin/ad-accounts/act_1003").get_data(as_text=True)
    assert 'id="meta-check-error"' in shown
    # Meta's own words stay English, marked as such for screen readers.
    assert '<span lang="en">' in shown.split('id="meta-check-error"')[1].split("</div>")[0]
    assert len(cast.events("ad_account.meta_check_failed")) == 1
