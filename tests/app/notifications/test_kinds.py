"""Who is told what, through the pages and the worker: each mail once, in the recipient's
language, with a link to the checklist, and nothing of an identity document."""

from __future__ import annotations

import time
from datetime import timedelta

import requests
from flask import Flask
from sqlalchemy import select
from sqlmodel import col

from app import notifications
from app.auth.erasure import erase
from app.db import transaction
from app.models import User, utcnow
from app.submissions.worker import Worker
from tests.app.conftest import CH_FORM, Cast, Sandbox, queued, run, submission_of
from tests.app.notifications.conftest import PUBLIC_URL, SmtpServer, rows, send, set_locale
from tests.app.submissions.test_follow import review

TITLE = "Abstimmung über Gebühren"
MANAGER, REVIEWER = "manager@example.org", "reviewer@example.org"


def subjects(smtp: SmtpServer, address: str) -> list[str]:
    return [str(m["Subject"]) for m in smtp.to(address)]


def body(smtp: SmtpServer, address: str, index: int = -1) -> str:
    content = smtp.to(address)[index].get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def test_a_mail_speaks_french_or_italian_to_who_chose_it(
    cast: Cast, mailing: Flask, smtp: SmtpServer
) -> None:
    set_locale(mailing, REVIEWER, "fr")
    set_locale(mailing, MANAGER, "it")
    checklist_id = cast.create(title=TITLE)
    cast.ready(checklist_id)
    send(mailing)
    # A subject is one line of plain spaces.
    assert subjects(smtp, REVIEWER) == [f"Prête pour l\u2019approbation : {TITLE}"]
    text = body(smtp, REVIEWER)
    assert text.startswith("Madame, Monsieur,")
    assert f"La publicité «\u00a0{TITLE}\u00a0» a passé toutes les étapes" in text
    assert f"{PUBLIC_URL}/checklists/{checklist_id}" in text
    sent_back = cast.post(
        cast.reviewer,
        f"/reviews/checklists/{checklist_id}/change-requests",
        {"comment": "Si prega di controllare il link.", "version": cast.version(checklist_id)},
    )
    assert sent_back.status_code == 302
    send(mailing)
    [italian] = subjects(smtp, MANAGER)
    assert italian.endswith(TITLE)
    assert "Si prega di controllare il link." in body(smtp, MANAGER)
    # Neither the English source nor another language's text.
    assert not italian.startswith(("Changes requested", "Änderungen", "Modifications")), italian
    assert not body(smtp, MANAGER).startswith(("Hello", "Guten Tag", "Madame"))


def test_change_request_edit_approval_and_meta_each_mail_once_in_each_language(
    cast: Cast, mailing: Flask, smtp: SmtpServer, sandbox: Sandbox, worker: Worker
) -> None:
    set_locale(mailing, MANAGER, "de")
    set_locale(mailing, REVIEWER, "en")
    checklist_id = cast.create(title=TITLE)
    cast.ready(checklist_id)
    send(mailing)
    assert subjects(smtp, REVIEWER) == [f"Ready for approval: {TITLE}"]
    assert f"{PUBLIC_URL}/checklists/{checklist_id}" in body(smtp, REVIEWER)
    # A reviewer sends it back on the page: the owner is told with the reason.
    sent_back = cast.post(
        cast.reviewer,
        f"/reviews/checklists/{checklist_id}/change-requests",
        {"comment": "Bitte den Link prüfen.", "version": cast.version(checklist_id)},
    )
    assert sent_back.status_code == 302
    send(mailing)
    assert subjects(smtp, MANAGER) == [f"Änderungen verlangt: {TITLE}"]
    text = body(smtp, MANAGER)
    assert "Bitte den Link prüfen." in text
    assert f"{PUBLIC_URL}/checklists/{checklist_id}" in text
    assert text.startswith("Guten Tag,")
    # The owner edits the text (which voids the classification) and classifies again.
    edited = cast.post(
        cast.manager,
        f"/checklists/{checklist_id}/edit",
        {
            **CH_FORM,
            "title": TITLE,
            "message": "Neuer Text.",
            "version": cast.version(checklist_id),
        },
    )
    assert edited.status_code == 302
    send(mailing)
    assert len(smtp.to(REVIEWER)) == 1  # not ready: the classification was voided
    assert cast.classify(checklist_id).status_code == 302
    send(mailing)
    assert subjects(smtp, REVIEWER) == [f"Ready for approval: {TITLE}"] * 2
    assert cast.approve(checklist_id).status_code == 302
    send(mailing)
    assert subjects(smtp, MANAGER)[-1] == f"Freigegeben: {TITLE}"
    assert cast.submit(checklist_id).status_code == 302
    run(mailing, worker)
    ad_id = submission_of(mailing, checklist_id).ad_id
    assert ad_id is not None
    review(sandbox, ad_id, "PAUSED")
    run(mailing, worker)
    run(mailing, worker)
    assert subjects(smtp, MANAGER) == [
        f"Änderungen verlangt: {TITLE}",
        f"Freigegeben: {TITLE}",
        f"Meta hat die Anzeige genehmigt: {TITLE}",
    ]
    assert subjects(smtp, REVIEWER) == [f"Ready for approval: {TITLE}"] * 2
    assert all(row.sent_at is not None for row in rows(mailing))
    sent = cast.events("notification.sent")
    assert len(sent) == len(smtp.mails) == 5


def test_meta_rejection_tells_the_owner_with_metas_words(
    cast: Cast, mailing: Flask, smtp: SmtpServer, sandbox: Sandbox, worker: Worker
) -> None:
    set_locale(mailing, MANAGER, "en")
    checklist_id = queued(cast, title=TITLE)
    run(mailing, worker)
    ad_id = submission_of(mailing, checklist_id).ad_id
    assert ad_id is not None
    review(sandbox, ad_id, "DISAPPROVED", {"global": {"Prohibited content": "Not approved."}})
    run(mailing, worker)
    run(mailing, worker)
    assert subjects(smtp, MANAGER)[-1] == f"Meta rejected the ad: {TITLE}"
    text = body(smtp, MANAGER)
    assert "Meta's feedback, in Meta's words:\n\n- Not approved." in text


def test_a_policy_block_tells_the_owner_that_a_person_must_look(
    cast: Cast, mailing: Flask, smtp: SmtpServer, sandbox: Sandbox, worker: Worker
) -> None:
    set_locale(mailing, MANAGER, "en")
    sandbox.faults(kind="policy_block", next=1, methods=["POST"])
    checklist_id = queued(cast, title=TITLE)
    run(mailing, worker)
    assert cast.checklist(checklist_id).state == "held"
    assert subjects(smtp, MANAGER)[-1] == f"Held for a person: {TITLE}"


def test_opted_out_kinds_are_not_queued(cast: Cast, mailing: Flask, smtp: SmtpServer) -> None:
    with mailing.app_context(), transaction() as db:
        reviewer = db.scalars(select(User).where(col(User.email) == REVIEWER)).one()
        reviewer.mail_opt_out = ["ready_for_approval"]
        db.add(reviewer)
    checklist_id = cast.create()
    cast.ready(checklist_id)
    assert cast.approve(checklist_id).status_code == 302
    send(mailing)
    assert smtp.to(REVIEWER) == []
    assert [r.kind for r in rows(mailing)] == ["approved"]


def test_an_expiring_identity_is_told_once_without_the_documents_details(
    cast: Cast, mailing: Flask, smtp: SmtpServer
) -> None:
    set_locale(mailing, MANAGER, "en")
    set_locale(mailing, REVIEWER, "en")
    expires = utcnow().date() + timedelta(days=20)
    cast.verify_identity("LI", expires=expires)
    # Far from expiry: nothing.
    cast.verify_identity("CH", expires=utcnow().date() + timedelta(days=400))
    for _ in range(2):  # the daily pass, run twice (two workers, or a restart)
        with mailing.app_context(), transaction() as db:
            notifications.identity_expiring(db, utcnow().date())
    send(mailing)
    assert subjects(smtp, MANAGER) == ["Your identity verification expires soon"]
    assert subjects(smtp, REVIEWER) == [f"An identity verification expires soon: {MANAGER}"]
    for address in (MANAGER, REVIEWER):
        text = body(smtp, address)
        for detail in ("passport", "Liechtenstein", "LI", expires.isoformat(), str(expires.day)):
            assert detail not in text.split("\n-- \n")[0].replace(PUBLIC_URL, ""), detail


def test_a_renewed_identity_silences_the_old_one(
    cast: Cast, mailing: Flask, smtp: SmtpServer
) -> None:
    cast.verify_identity("CH", expires=utcnow().date() + timedelta(days=10))
    cast.verify_identity("CH", expires=utcnow().date() + timedelta(days=900))
    with mailing.app_context(), transaction() as db:
        assert notifications.identity_expiring(db, utcnow().date()) == 0


def test_an_identity_request_tells_the_reviewers(
    cast: Cast, mailing: Flask, smtp: SmtpServer
) -> None:
    set_locale(mailing, REVIEWER, "de")
    with mailing.app_context(), transaction() as db:
        manager = db.scalars(select(User).where(col(User.email) == MANAGER)).one()
        assert notifications.identity_requested(db, manager, "CH", request_id=1) == 1
        assert notifications.identity_requested(db, manager, "CH", request_id=1) == 0
    send(mailing)
    assert subjects(smtp, REVIEWER) == ["Identitätsprüfung für Schweiz erbeten"]
    assert smtp.to(MANAGER) == []


def test_asking_on_the_page_mails_each_reviewer_once_with_a_link_to_the_request(
    cast: Cast, mailing: Flask, smtp: SmtpServer
) -> None:
    cast.users("second@example.org", "reviewer")
    set_locale(mailing, REVIEWER, "de")
    set_locale(mailing, "second@example.org", "en")
    for _ in range(2):  # asking again is told it was asked: no second mail
        asked = cast.post(cast.manager, "/account/identity/requests", {"country": "LI"})
        assert asked.status_code == 302
    # A refused request (a document number in the note) mails nobody.
    refused = cast.post(
        cast.manager, "/account/identity/requests", {"country": "CH", "note": "Nr. X0123456"}
    )
    assert refused.status_code == 400
    send(mailing)
    send(mailing)
    assert subjects(smtp, REVIEWER) == ["Identitätsprüfung für Liechtenstein erbeten"]
    assert subjects(smtp, "second@example.org") == [
        "Identity verification requested for Liechtenstein"
    ]
    text = body(smtp, "second@example.org")
    assert MANAGER in text
    assert f"{PUBLIC_URL}/reviews/identities?request=1" in text
    assert "X0123456" not in text
    assert smtp.to(MANAGER) == []
    assert len(smtp.mails) == 2


def test_erasing_a_person_deletes_the_mails_to_and_about_them(
    cast: Cast, mailing: Flask, smtp: SmtpServer
) -> None:
    with mailing.app_context(), transaction() as db:
        manager = db.scalars(select(User).where(col(User.email) == MANAGER)).one()
        notifications.identity_requested(db, manager, "CH", request_id=1)
    checklist_id = cast.create(title=TITLE)
    cast.ready(checklist_id)
    assert cast.approve(checklist_id).status_code == 302
    assert {r.kind for r in rows(mailing)} == {
        "identity_requested",
        "ready_for_approval",
        "approved",
    }
    with mailing.app_context(), transaction() as db:
        manager = db.scalars(select(User).where(col(User.email) == MANAGER)).one()
        report = erase(db, manager, None, utcnow())
    assert report.mails == 2  # the approval to them, the identity request naming them
    assert [r.kind for r in rows(mailing)] == ["ready_for_approval"]


def test_a_long_throttle_tells_the_owner_once(
    cast: Cast, mailing: Flask, smtp: SmtpServer, sandbox: Sandbox, worker: Worker
) -> None:
    set_locale(mailing, MANAGER, "en")
    mailing.config["NOTIFY_THROTTLE_MINUTES"] = 0.01  # 0.6 s: Meta's throttle below is 3 s
    held = requests.post(
        f"{sandbox.url}/__sandbox__/throttles", json={"ad_account": "act_1001", "seconds": 3},
        timeout=5,
    )  # fmt: skip
    assert held.status_code == 201
    checklist_id = queued(cast, title=TITLE)
    with mailing.app_context():
        worker.run_once()
        worker.run_once()
    assert subjects(smtp, MANAGER)[-1] == f"Waiting for Meta: {TITLE}"
    assert "the ad waits until" in body(smtp, MANAGER)
    time.sleep(3.2)
    run(mailing, worker)
    assert cast.checklist(checklist_id).state == "submitted"
    assert subjects(smtp, MANAGER).count(f"Waiting for Meta: {TITLE}") == 1
