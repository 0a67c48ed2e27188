"""The checklist in the app: the pages, the gate, voiding, conflicts, identity, approval, submit."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlmodel import col

from app.db import transaction
from app.models import Checklist, IdentityVerification, Submission, User, utcnow
from tests.app.conftest import CH_FORM, Cast, signed_in
from tests.conftest import PASSWORD, UserFactory, csrf_token


def test_create_shows_every_open_step_and_a_blocked_submit(cast: Cast) -> None:
    checklist_id = cast.create()
    [created] = cast.events("checklist.created")
    assert created.subject_id == str(checklist_id)
    html = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    # Not disabled but explaining: the button stays focusable, submits nothing and is
    # described by the list of open steps (a disabled button would never be announced).
    button = re.search(r'<button type="button"[^>]*id="submit"[^>]*>', html)
    assert button is not None
    assert 'aria-disabled="true"' in button.group(0)
    assert 'aria-describedby="submit-blockers-intro submit-blockers"' in button.group(0)
    assert " disabled" not in button.group(0)
    blockers = re.findall(r'<li data-step="(\w+)">', html.split('id="submit-blockers"')[1])
    assert blockers == ["two_factor", "identity", "classification", "jurisdiction", "approval"]
    assert cast.steps(cast.manager, checklist_id) == {
        "two_factor": "failed",
        "identity": "pending",
        "classification": "failed",
        "disclaimer": "passed",
        "jurisdiction": "pending",
        "standing": "passed",
        "budget": "passed",
        "approval": "pending",
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("countries", "CH, XX", "Not a country adgate can target: “XX”"),
        ("countries", "Sc", "Not a country adgate can target: “Sc”"),
        ("ad_account_id", "act_1234", "Not a valid choice"),
        ("link_url", "javascript:alert(1)", "https://"),
        ("headline", "", "This field is required"),
    ],
)
def test_bad_input_is_shown_and_creates_nothing(
    cast: Cast, field: str, value: str, message: str
) -> None:
    token = csrf_token(cast.manager, "/checklists/new")
    response = cast.manager.post(
        "/checklists/new", data={**CH_FORM, field: value, "csrf_token": token}
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with cast.app.app_context(), transaction(write=False) as db:
        assert db.scalars(select(Checklist)).all() == []
    assert cast.events("checklist.created") == []


def test_the_whole_way_to_the_queue(cast: Cast) -> None:
    checklist_id = cast.create()
    cast.ready(checklist_id)
    # The reviewer's queue shows it as ready for approval.
    assert (
        f"/checklists/{checklist_id}"
        in cast.reviewer.get("/reviews/")
        .get_data(as_text=True)
        .split('id="to-approve"')[1]
        .split("</ul>")[0]
    )
    assert cast.approve(checklist_id).status_code == 302
    assert cast.checklist(checklist_id).state == "approved"
    assert cast.steps(cast.manager, checklist_id) == dict.fromkeys(
        [
            "two_factor",
            "identity",
            "classification",
            "disclaimer",
            "jurisdiction",
            "standing",
            "budget",
            "approval",
        ],
        "passed",
    )
    assert cast.submit(checklist_id).status_code == 302
    checklist = cast.checklist(checklist_id)
    assert checklist.state == "queued"
    with cast.app.app_context(), transaction(write=False) as db:
        [submission] = db.scalars(select(Submission)).all()
    assert submission.status == "queued"
    assert submission.content_hash == checklist.approved_hash
    kinds = [e.kind for e in cast.events(subject=checklist_id) if e.subject_type == "checklist"]
    assert kinds == [
        "checklist.created",
        "checklist.edit",  # the classification
        "checklist.checks_changed",
        "checklist.attested",
        "checklist.checks_changed",
        "checklist.approve",
        "checklist.submit",
    ]


def test_edit_voids_classification_and_approval(cast: Cast) -> None:
    checklist_id = cast.create()
    cast.ready(checklist_id)
    cast.approve(checklist_id)
    response = cast.post(
        cast.manager,
        f"/checklists/{checklist_id}/edit",
        {**CH_FORM, "message": "Neuer Text zur Abstimmung.", "version": cast.version(checklist_id)},
    )
    assert response.status_code == 302
    checklist = cast.checklist(checklist_id)
    assert (checklist.state, checklist.category, checklist.approved_by) == ("draft", None, None)
    edit = cast.events("checklist.edit", checklist_id)[-1]
    data = json.loads(edit.data)
    assert data["from"] == "approved"
    assert data["voided"] == ["classification", "approval"]
    assert data["changed"]["message"]["after"] == "Neuer Text zur Abstimmung."
    changes = json.loads(cast.events("checklist.checks_changed", checklist_id)[-1].data)["changes"]
    assert {c["check"] for c in changes} == {"classification", "jurisdiction", "approval"}
    # The attestation is about the person's Facebook account: it survives the edit.
    assert cast.steps(cast.manager, checklist_id)["two_factor"] == "passed"


def test_a_stale_edit_is_a_conflict_that_keeps_the_text(cast: Cast) -> None:
    checklist_id = cast.create()
    version = cast.version(checklist_id)
    first = cast.post(
        cast.manager, f"/checklists/{checklist_id}/edit",
        {**CH_FORM, "headline": "Erste Fassung", "version": version},
    )  # fmt: skip
    assert first.status_code == 302
    stale = cast.post(
        cast.manager, f"/checklists/{checklist_id}/edit",
        {**CH_FORM, "headline": "Zweite Fassung aus dem anderen Tab", "version": version},
    )  # fmt: skip
    html = stale.get_data(as_text=True)
    assert stale.status_code == 409
    assert "Someone changed this ad while you were editing it." in html
    assert 'value="Zweite Fassung aus dem anderen Tab"' in html
    differences = html.split('id="current-version"')[1].split("</table>")[0]
    assert 'data-field="headline"' in differences
    assert "Erste Fassung" in differences
    assert 'data-field="message"' not in differences
    assert cast.checklist(checklist_id).headline == "Erste Fassung"
    # Saving again from the conflict page (it carries the current version) wins.
    new_version = re.search(r'name="version" type="hidden" value="(\d+)"', html)
    assert new_version
    again = cast.post(
        cast.manager, f"/checklists/{checklist_id}/edit",
        {**CH_FORM, "headline": "Zweite Fassung aus dem anderen Tab",
         "version": new_version.group(1)},
    )  # fmt: skip
    assert again.status_code == 302
    assert cast.checklist(checklist_id).headline == "Zweite Fassung aus dem anderen Tab"


def test_eu_political_ad_is_blocked_with_the_legal_reference(cast: Cast) -> None:
    checklist_id = cast.create(
        countries="DE", dsa_payor="Stadt X", dsa_beneficiary="Stadt X", save_anyway="y"
    )
    cast.ready(checklist_id)
    cast.verify_identity("DE")
    html = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert "Regulation (EU) 2024/900" in html
    assert cast.steps(cast.manager, checklist_id)["jurisdiction"] == "failed"
    # Approval and submit both refuse; each refusal is audited with every unmet step.
    cast.approve(checklist_id)
    cast.submit(checklist_id)
    assert cast.checklist(checklist_id).state == "draft"
    refusals = [json.loads(e.data) for e in cast.events("checklist.refused", checklist_id)]
    assert [r["event"] for r in refusals] == ["approve", "submit"]
    assert {"step": "jurisdiction", "code": "jurisdiction.refused"} in refusals[1]["unmet"]
    assert {"step": "approval", "code": "approval.missing"} in refusals[1]["unmet"]


def test_flagged_none_needs_justification_and_sign_off(cast: Cast) -> None:
    checklist_id = cast.create()
    page = cast.manager.get(f"/checklists/{checklist_id}/classification").get_data(as_text=True)
    assert 'id="suggestion-label"' in page
    assert cast.classify(checklist_id, "NONE").status_code == 302
    checklist = cast.checklist(checklist_id)
    assert checklist.flagged
    assert cast.steps(cast.manager, checklist_id)["classification"] == "failed"
    cast.classify(
        checklist_id, "NONE", justification="Information der Stadtverwaltung, keine Politik."
    )
    assert cast.steps(cast.manager, checklist_id)["classification"] == "pending"
    assert f"/checklists/{checklist_id}" in cast.reviewer.get("/reviews/").get_data(as_text=True)
    response = cast.post(cast.reviewer, f"/reviews/checklists/{checklist_id}/sign-off")
    assert response.status_code == 302
    assert cast.steps(cast.manager, checklist_id)["classification"] == "passed"
    [signed] = cast.events("checklist.classification_signed_off", checklist_id)
    assert signed.actor_id == str(cast.reviewer_user.id)


def test_social_issue_needs_topics_and_digital_media_is_recorded(cast: Cast) -> None:
    checklist_id = cast.create()
    cast.classify(checklist_id, "SOCIAL_ISSUE")
    assert cast.steps(cast.manager, checklist_id)["classification"] == "failed"
    cast.classify(
        checklist_id, "SOCIAL_ISSUE", social_issues=["education"], digitally_created_media="y"
    )
    checklist = cast.checklist(checklist_id)
    assert (checklist.social_issues, checklist.digitally_created_media) == (["education"], True)
    assert cast.steps(cast.manager, checklist_id)["classification"] == "passed"
    bad = cast.classify(checklist_id, "WHATEVER")
    assert bad.status_code == 400


def test_identity_verification_rules(cast: Cast) -> None:
    page = cast.reviewer.get("/reviews/identities")
    assert "do not upload a copy" in page.get_data(as_text=True)
    assert len(cast.events("identity.read")) == 1
    reviewer_id = cast.reviewer_user.id
    data = {"document_type": "passport", "issuing_country": "CH", "expires_on": "2031-01-01"}
    # The reviewer is not even offered as a person to verify; forcing it is refused.
    assert f'value="{reviewer_id}"' not in page.get_data(as_text=True)
    forced = cast.post(cast.reviewer, "/reviews/identities", {**data, "user": reviewer_id})
    assert forced.status_code == 400
    expired = cast.post(
        cast.reviewer, "/reviews/identities",
        {**data, "user": cast.manager_user.id, "expires_on": "2020-01-01"},
    )  # fmt: skip
    assert expired.status_code == 400
    assert "expired already" in expired.get_data(as_text=True)
    ok = cast.post(cast.reviewer, "/reviews/identities", {**data, "user": cast.manager_user.id})
    assert ok.status_code == 302
    [verified] = cast.events("identity.verified")
    # A reference, not the person's document details, goes into the chain.
    assert json.loads(verified.data) == {"verification": 1}
    # Managers cannot record verifications.
    assert cast.post(cast.manager, "/reviews/identities", data).status_code == 403


def test_expired_or_revoked_identity_fails_the_check(cast: Cast) -> None:
    checklist_id = cast.create()
    cast.verify_identity("CH", expires=utcnow().date() + timedelta(days=1))
    assert cast.steps(cast.manager, checklist_id)["identity"] == "passed"
    with cast.app.app_context(), transaction() as db:
        verification = db.scalars(select(IdentityVerification)).one()
        verification.expires_on = utcnow().date() - timedelta(days=1)
        db.add(verification)
    assert cast.steps(cast.manager, checklist_id)["identity"] == "failed"
    cast.verify_identity("CH")
    assert cast.steps(cast.manager, checklist_id)["identity"] == "passed"
    with cast.app.app_context(), transaction(write=False) as db:
        valid = db.scalars(
            select(IdentityVerification).order_by(col(IdentityVerification.id))
        ).all()[-1]
    cast.post(cast.reviewer, f"/reviews/identities/{valid.id}/revoke")
    assert cast.steps(cast.manager, checklist_id)["identity"] == "failed"
    assert len(cast.events("identity.revoked")) == 1


def test_disabling_2fa_fails_the_two_factor_check(cast: Cast) -> None:
    checklist_id = cast.create()
    cast.attest(checklist_id)
    assert cast.steps(cast.manager, checklist_id)["two_factor"] == "passed"
    token = csrf_token(cast.manager, "/account/two-factor")
    cast.manager.post(
        "/account/two-factor/disable",
        data={"password": PASSWORD, "code": cast.code("manager@example.org"), "csrf_token": token},
    )
    assert cast.steps(cast.reviewer, checklist_id)["two_factor"] == "failed"


def test_only_the_owner_sees_and_changes_a_managers_ad(cast: Cast, app: Flask) -> None:
    checklist_id = cast.create()
    cast.users("other@example.org", "manager")
    from tests.conftest import AuthActions, english_client

    other = english_client(app)
    AuthActions(other, cast.users).login("other@example.org")
    assert other.get(f"/checklists/{checklist_id}").status_code == 404
    assert (
        cast.post(other, f"/checklists/{checklist_id}/attest", {"confirm": "y"}).status_code == 404
    )
    assert f"/checklists/{checklist_id}" not in other.get("/checklists/").get_data(as_text=True)
    # Reviewers and admins see it; an admin may withdraw it.
    assert cast.reviewer.get(f"/checklists/{checklist_id}").status_code == 200
    assert cast.admin.get(f"/checklists/{checklist_id}").status_code == 200
    assert (
        cast.post(
            cast.reviewer, f"/checklists/{checklist_id}/withdraw", {"reason": "Abgesagt"}
        ).status_code
        == 403
    )
    assert (
        cast.post(
            cast.admin, f"/checklists/{checklist_id}/withdraw", {"reason": "Abgesagt"}
        ).status_code
        == 302
    )
    assert cast.checklist(checklist_id).state == "withdrawn"


def test_the_owner_cannot_approve(cast: Cast, app: Flask) -> None:
    checklist_id = cast.create()
    cast.ready(checklist_id)
    # A manager has no access to the reviewers' routes at all.
    response = cast.post(
        cast.manager, f"/reviews/checklists/{checklist_id}/approve",
        {"code": cast.code("manager@example.org")},
    )  # fmt: skip
    assert response.status_code == 403
    assert cast.checklist(checklist_id).approved_by is None


def test_submit_needs_a_fresh_code(cast: Cast, app: Flask) -> None:
    checklist_id = cast.create()
    cast.ready(checklist_id)
    cast.approve(checklist_id)
    with app.app_context(), transaction() as db:
        from app.models import LoginSession

        for login in db.scalars(select(LoginSession)):
            login.second_factor_at = utcnow() - timedelta(hours=1)
            db.add(login)
    without = cast.post(cast.manager, f"/checklists/{checklist_id}/submit", {"code": ""})
    assert without.status_code == 400
    assert "Enter a current code" in without.get_data(as_text=True)
    wrong = cast.post(cast.manager, f"/checklists/{checklist_id}/submit", {"code": "000000"})
    assert wrong.status_code == 400
    assert cast.checklist(checklist_id).state == "approved"
    # The wrong code counts towards the lockout and is audited, though the request failed.
    with app.app_context(), transaction(write=False) as db:
        manager = db.get(User, cast.manager_user.id)
        assert manager is not None
        assert manager.failed_logins == 1
    assert [e.data for e in cast.events("auth.code_failed")]
    assert cast.submit(checklist_id).status_code == 302
    assert cast.checklist(checklist_id).state == "queued"


def test_withdraw_a_queued_ad(cast: Cast) -> None:
    checklist_id = cast.create()
    cast.ready(checklist_id)
    cast.approve(checklist_id)
    cast.submit(checklist_id)
    assert (
        cast.post(
            cast.manager, f"/checklists/{checklist_id}/withdraw", {"reason": "Abgesagt"}
        ).status_code
        == 302
    )
    assert cast.checklist(checklist_id).state == "withdrawn"
    with cast.app.app_context(), transaction(write=False) as db:
        assert db.scalars(select(Submission.status)).all() == ["withdrawn"]  # type: ignore[call-overload]
    # Withdrawn is final.
    cast.post(cast.manager, f"/checklists/{checklist_id}/withdraw", {"reason": "Abgesagt"})
    assert cast.events("checklist.refused", checklist_id)


def test_four_eyes_can_be_turned_off(cast: Cast, app: Flask) -> None:
    app.config["FOUR_EYES"] = False
    checklist_id = cast.create()
    cast.ready(checklist_id)
    assert cast.steps(cast.manager, checklist_id)["approval"] == "passed"
    assert cast.submit(checklist_id).status_code == 302
    assert cast.checklist(checklist_id).state == "queued"


def test_workflow_diagram_command(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["workflow", "diagram"])
    assert result.exit_code == 0
    assert result.output.startswith("stateDiagram-v2\n")
    assert "queued --> sending: send (worker) [every check passes]" in result.output


def test_ad_accounts_cli_and_admin_page(cast: Cast, app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["ad-accounts", "add", "act_1002", "--page", "2002", "--name", "Zweit"]
    )
    assert result.exit_code == 0, result.output
    again = runner.invoke(
        args=["ad-accounts", "add", "act_1002", "--page", "2002", "--name", "Zweit"]
    )
    assert again.exit_code == 1
    assert "registered already" in again.output
    bad = runner.invoke(args=["ad-accounts", "add", "1003", "--page", "x", "--name", "Bad"])
    assert bad.exit_code == 1
    page = cast.admin.get("/admin/ad-accounts").get_data(as_text=True)
    assert "act_1002" in page
    with app.app_context(), transaction() as db:
        from app.models import AdAccount

        account = db.get(AdAccount, "act_1001")
        assert account is not None
        account.political_eligible, account.violations = False, 1
        db.add(account)
    checklist_id = cast.create()
    cast.classify(checklist_id)
    assert cast.steps(cast.manager, checklist_id)["standing"] == "failed"
    assert (
        cast.post(cast.admin, "/admin/ad-accounts/act_1001/restore", {"reason": ""}).status_code
        == 302
    )
    assert cast.steps(cast.manager, checklist_id)["standing"] == "failed"
    cast.post(
        cast.admin,
        "/admin/ad-accounts/act_1001/restore",
        {"reason": "Einspruch bei Meta erfolgreich"},
    )
    assert cast.steps(cast.manager, checklist_id)["standing"] == "passed"
    [restored] = cast.events("ad_account.restored")
    assert json.loads(restored.data)["reason"] == "Einspruch bei Meta erfolgreich"


def test_every_event_of_the_story_verifies(cast: Cast, app: Flask) -> None:
    from app.audit import verification
    from app.db import engine

    checklist_id = cast.create()
    cast.ready(checklist_id)
    cast.approve(checklist_id)
    cast.submit(checklist_id)
    with app.app_context():
        assert verification.verify(engine()).ok


def test_an_approval_counts_only_for_the_version_the_reviewer_was_shown(cast: Cast) -> None:
    checklist_id = cast.create()
    cast.ready(checklist_id)
    page = cast.reviewer.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    shown = re.search(r'name="version" value="(\d+)"', page.split('id="approve-form"')[1])
    assert shown
    # The owner changes the text and the link between the reviewer's look and the click
    # (cast.ready again: the edit voided the classification).
    edited = cast.post(
        cast.manager, f"/checklists/{checklist_id}/edit",
        {**CH_FORM, "message": "Ein ganz anderer Text.", "link_url": "https://example.org/x",
         "version": cast.version(checklist_id)},
    )  # fmt: skip
    assert edited.status_code == 302
    cast.classify(checklist_id)
    events_before = len(cast.events("checklist.approve", checklist_id))
    response = cast.approve(checklist_id, version=int(shown.group(1)))
    assert response.status_code == 302
    page = cast.reviewer.get(response.headers["Location"]).get_data(as_text=True)
    assert "The ad changed after you opened it, so nothing was approved." in page
    checklist = cast.checklist(checklist_id)
    assert (checklist.state, checklist.approved_by) == ("draft", None)
    assert len(cast.events("checklist.approve", checklist_id)) == events_before
    # A form without a version approves nothing either.
    missing = cast.post(cast.reviewer, f"/reviews/checklists/{checklist_id}/approve")
    assert missing.status_code == 302
    assert cast.checklist(checklist_id).approved_by is None
    # Reviewed again as it is now: approved.
    assert cast.approve(checklist_id).status_code == 302
    assert cast.checklist(checklist_id).state == "approved"


def test_a_refused_step_says_what_it_is_in_german_and_english(cast: Cast) -> None:
    checklist_id = cast.create()
    assert (
        cast.post(
            cast.manager, f"/checklists/{checklist_id}/withdraw", {"reason": "Abgesagt"}
        ).status_code
        == 302
    )
    again = cast.post(cast.manager, f"/checklists/{checklist_id}/withdraw", {"reason": "Abgesagt"})
    page = cast.manager.get(again.headers["Location"]).get_data(as_text=True)
    assert "An ad that is withdrawn cannot be withdrawn" in page
    assert "withdrawed" not in page
    cast.manager.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    with cast.app.app_context(), transaction() as db:
        manager = db.get(User, cast.manager_user.id)
        assert manager is not None
        manager.locale = "de"
        db.add(manager)
    again = cast.post(cast.manager, f"/checklists/{checklist_id}/withdraw", {"reason": "Abgesagt"})
    page = cast.manager.get(again.headers["Location"]).get_data(as_text=True)
    assert "kann nicht zurückgezogen werden" in page
    assert "cannot be withdrawn" not in page


def test_a_managers_probe_of_anothers_checklist_is_not_found_and_audited(
    cast: Cast, make_user: UserFactory, app: Flask
) -> None:
    checklist_id = cast.create()
    make_user("other@example.org", "manager")
    other = signed_in(app, make_user, "other@example.org")
    assert other.get(f"/checklists/{checklist_id}").status_code == 404
    assert other.get("/checklists/999999").status_code == 404
    [probe] = cast.events("access.forbidden", checklist_id)
    assert probe.subject_type == "checklist"
    data = json.loads(probe.data)
    assert (data["reason"], data["endpoint"]) == ("not_visible", "checklists.show")


def test_a_fresh_login_approves_nothing_while_its_account_is_locked(cast: Cast) -> None:
    """The lock comes first, also for a login that proved a code minutes ago: while someone
    guesses the account's codes, nothing is approved in its name."""
    checklist_id = cast.create()
    cast.ready(checklist_id)
    cast.reviewer.get(f"/checklists/{checklist_id}")
    with cast.app.app_context(), transaction() as db:
        reviewer = db.get(User, cast.reviewer_user.id)
        assert reviewer is not None
        reviewer.locked_until = utcnow() + timedelta(minutes=30)
        db.add(reviewer)
    refused = cast.approve(checklist_id)
    assert refused.status_code == 400
    assert "this account is locked" in refused.get_data(as_text=True)
    assert cast.checklist(checklist_id).state == "draft"
