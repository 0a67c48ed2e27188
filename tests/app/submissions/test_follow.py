"""After Meta created the ad: its review and delivery as Meta reports them, starting and
pausing through adgate, reading within Meta's budget, throttling, code 368, and nothing left
at Meta that adgate does not track. The real worker and SDK against the sandbox over HTTP."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from app.db import transaction
from app.models import AdAccount, IdentityVerification, Submission, utcnow
from app.sandbox.usage import Tier
from app.submissions import cleanup, follow
from app.submissions.worker import Worker, make_gateway
from tests.app.conftest import (
    Cast,
    Sandbox,
    installation,
    queued,
    queued_many,
    run,
    submission_of,
)
from tests.app.submissions.test_worker import Watched


def review(
    sandbox: Sandbox, ad_id: str, status: str, feedback: dict[str, Any] | None = None
) -> None:
    """Set the ad's review outcome at the sandbox (it is reviewed at once)."""
    answer = requests.post(
        f"{sandbox.url}/__sandbox__/reviews",
        json={"ad_id": ad_id, "effective_status": status, "feedback": feedback or {}},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text


def sent(cast: Cast, app: Flask, worker: Worker, **changes: object) -> tuple[int, str]:
    """A checklist through the queue to Meta; its id and the ad's id."""
    checklist_id = queued(cast, **changes)
    run(app, worker)
    submission = submission_of(app, checklist_id)
    assert submission.status == "submitted"
    assert submission.ad_id is not None
    return checklist_id, submission.ad_id


def account(app: Flask, account_id: str = "act_1001") -> AdAccount:
    with app.app_context(), transaction(write=False) as db:
        found = db.get(AdAccount, account_id)
        assert found is not None
        return found


def at_sandbox(sandbox: Sandbox, edge: str, object_id: str) -> dict[str, object]:
    [found] = [o for o in sandbox.objects()[edge] if o["id"] == object_id]
    return found


# --- review and delivery -----------------------------------------------------------------


def test_delivery_issues_are_shown_and_are_no_violation(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id, ad_id = sent(cast, app, worker)
    issue = {
        "error_code": 1815869,
        "error_summary": "Ad account has no payment method",
        "error_message": "Add a payment method to run this ad.",
        "error_type": "HARD_ERROR",
        "level": "AD",
        "mid": "m1",
    }
    review(sandbox, ad_id, "WITH_ISSUES", {"issues_info": [issue]})
    run(app, worker)
    assert cast.checklist(checklist_id).state == "with_issues"
    assert (account(app).violations, account(app).political_eligible) == (0, True)
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert 'id="issues-info"' in page
    assert "Ad account has no payment method" in page
    assert 'lang="en"' in page.split('id="issues-info"')[1]
    assert cast.events("ad_account.violation") == []
    [moved] = cast.events("checklist.meta_issues", checklist_id)
    assert json.loads(moved.data)["issues_info"] == [issue]


def test_a_disapproval_is_one_violation(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id, ad_id = sent(cast, app, worker)
    feedback = {
        "global": {"Prohibited content": "Your ad isn't approved."},
        "placement_specific": {"instagram": {"Text in image": "Too much text."}},
    }
    review(sandbox, ad_id, "DISAPPROVED", feedback)
    run(app, worker)
    assert cast.checklist(checklist_id).state == "rejected"
    assert (account(app).violations, account(app).political_eligible) == (1, False)
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert "instagram — Text in image: Too much text." in page
    assert len(cast.events("ad_account.violation")) == 1
    # Read again: nothing new, nothing counted twice.
    run(app, worker)
    assert len(cast.events("ad_account.violation")) == 1


def test_an_approved_paused_ad_is_started_through_adgate(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id, ad_id = sent(cast, app, worker)
    sandbox.review_now()
    run(app, worker)
    assert cast.checklist(checklist_id).state == "paused"
    assert at_sandbox(sandbox, "ads", ad_id)["effective_status"] == "PAUSED"
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert 'id="paused-panel"' in page
    assert 'id="activate"' in page

    # Starting is gated: with the identity expired since, it is refused.
    with app.app_context(), transaction() as db:
        for verification in db.scalars(select(IdentityVerification)):
            verification.expires_on = utcnow().date() - timedelta(days=1)
            db.add(verification)
    refused = cast.post(
        cast.manager,
        f"/checklists/{checklist_id}/activate",
        {"code": cast.code("manager@example.org")},
    )
    assert refused.status_code == 302
    assert cast.checklist(checklist_id).state == "paused"
    assert cast.events("checklist.refused", checklist_id)
    cast.verify_identity()

    started = cast.post(
        cast.manager,
        f"/checklists/{checklist_id}/activate",
        {"code": cast.code("manager@example.org")},
    )
    assert started.status_code == 302
    assert cast.checklist(checklist_id).state == "activating"
    run(app, worker)
    assert cast.checklist(checklist_id).state == "live"
    submission = submission_of(app, checklist_id)
    for edge, object_id in (
        ("campaigns", submission.campaign_id),
        ("adsets", submission.adset_id),
        ("ads", ad_id),
    ):
        assert at_sandbox(sandbox, edge, str(object_id))["status"] == "ACTIVE"
    assert at_sandbox(sandbox, "ads", ad_id)["effective_status"] == "ACTIVE"

    # And paused again, by its owner.
    assert cast.post(cast.manager, f"/checklists/{checklist_id}/pause").status_code == 302
    run(app, worker)
    assert cast.checklist(checklist_id).state == "paused"
    assert at_sandbox(sandbox, "ads", ad_id)["status"] == "PAUSED"
    kinds = [e.kind for e in cast.events(subject=checklist_id)]
    for kind in ("checklist.meta_approve", "checklist.activate", "checklist.meta_deliver",
                 "checklist.pause", "checklist.meta_pause"):  # fmt: skip
        assert kind in kinds


def test_paused_at_meta_is_followed(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id, ad_id = sent(cast, app, worker)
    review(sandbox, ad_id, "ACTIVE")
    run(app, worker)
    assert cast.checklist(checklist_id).state == "live"
    # Someone pauses the ad set in Meta's Ads Manager.
    adset_id = submission_of(app, checklist_id).adset_id
    with app.app_context():
        worker.gateway.set_status("adset", str(adset_id), "PAUSED")
    run(app, worker)
    assert cast.checklist(checklist_id).state == "paused"
    assert submission_of(app, checklist_id).effective_status == "ADSET_PAUSED"


# --- reading within Meta's budget --------------------------------------------------------------


def test_many_ads_are_read_in_one_call_and_reads_stretch_while_nothing_changes(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    ids = queued_many(cast, 5)
    run(app, worker)
    app.config.update(REVIEW_POLL_SECONDS=1, REVIEW_POLL_MAX_SECONDS=4)
    before = requests.get(f"{sandbox.url}/__sandbox__/usage", timeout=5).json()
    calls = before["accounts"]["act_1001"]["calls"]
    with app.app_context(), transaction() as db:
        for submission in db.scalars(select(Submission)):
            submission.review_next_at = None
            db.add(submission)
    with app.app_context():
        follow.poll_reviews(worker)
    after = requests.get(f"{sandbox.url}/__sandbox__/usage", timeout=5).json()
    assert after["accounts"]["act_1001"]["calls"] == calls + 1  # five ads, one call
    with app.app_context(), transaction() as db:
        for submission in db.scalars(select(Submission)):
            submission.review_interval = None
            db.add(submission)
    intervals = []
    for _ in range(4):
        with app.app_context(), transaction() as db:
            for submission in db.scalars(select(Submission)):
                submission.review_next_at = None  # due now, keeping the interval
                db.add(submission)
        with app.app_context():
            follow.poll_reviews(worker)
        intervals.append(submission_of(app, ids[0]).review_interval)
    assert intervals == [2.0, 4.0, 4.0, 4.0]  # doubles, up to the maximum
    # A failed read moves the next one later, never sooner.
    sandbox.faults(kind="server_error", next=1, methods=["GET"])
    with app.app_context(), transaction() as db:
        for submission in db.scalars(select(Submission)):
            submission.review_next_at = None
            db.add(submission)
    started = utcnow()
    with app.app_context():
        follow.poll_reviews(worker)
    failed = submission_of(app, ids[0])
    assert failed.review_next_at is not None
    assert failed.review_next_at >= started + timedelta(seconds=4)


def test_reads_that_can_wait_yield_while_the_accounts_budget_runs_low(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    queued_many(cast, 2)
    run(app, worker)

    def calls() -> int:
        usage = requests.get(f"{sandbox.url}/__sandbox__/usage", timeout=5).json()
        return int(usage["accounts"]["act_1001"]["calls"])

    def due() -> None:
        with app.app_context(), transaction() as db:
            for submission in db.scalars(select(Submission)):
                submission.review_next_at = None
                db.add(submission)

    # Meta's budget for the account, as the sandbox counts it, becomes a little more than
    # what was used: its headers now say about 75 %.
    budget = sandbox.app.extensions["meta_sandbox_budget"]
    used = requests.get(f"{sandbox.url}/__sandbox__/usage", timeout=5).json()
    peak = used["accounts"]["act_1001"]["peak_score"]
    budget.tier = Tier("custom", max_score=int(peak * 1.3), block_seconds=300.0)
    due()
    with app.app_context():
        follow.poll_reviews(worker)
    percent, _ = worker.usage_seen["act_1001"]
    assert 50 <= percent < 100
    before = calls()
    due()
    with app.app_context():
        assert follow.poll_reviews(worker) == 0
        report = cleanup.reconcile(worker)
    assert calls() == before  # no read, no reconciliation: the rest is kept for sending
    assert "act_1001" in report.skipped
    # A reading a few minutes old is not trusted: the next read goes out and brings a new one.
    worker.usage_seen["act_1001"] = (percent, utcnow() - timedelta(minutes=2))
    with app.app_context():
        follow.poll_reviews(worker)
    assert calls() == before + 1


def test_a_throttled_account_waits_without_failing_and_without_calls(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    held = requests.post(
        f"{sandbox.url}/__sandbox__/throttles", json={"ad_account": "act_1001", "seconds": 3},
        timeout=5,
    )  # fmt: skip
    assert held.status_code == 201
    ids = queued_many(cast, 3)
    with app.app_context():
        worker.run_once()
    # The first call learnt of the throttle: everything for the account now waits for it.
    throttled = account(app).meta_throttled_until
    assert throttled is not None
    assert throttled > utcnow()
    assert {submission_of(app, i).status for i in ids} == {"queued"}
    assert all(submission_of(app, i).attempts == 0 for i in ids)
    page = cast.manager.get(f"/checklists/{ids[0]}").get_data(as_text=True)
    assert 'id="throttled"' in page
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'adgate_meta_throttled_seconds{ad_account="act_1001"}' in metrics
    for _ in range(5):  # rounds while it is throttled: no call
        with app.app_context():
            worker.run_once()
    usage = requests.get(f"{sandbox.url}/__sandbox__/usage", timeout=5).json()
    assert usage["accounts"]["act_1001"]["calls_while_throttled"] == 1
    time.sleep(max(0.0, (throttled - utcnow()).total_seconds()) + 0.1)
    run(app, worker)
    assert {submission_of(app, i).status for i in ids} == {"submitted"}
    usage = requests.get(f"{sandbox.url}/__sandbox__/usage", timeout=5).json()
    assert usage["accounts"]["act_1001"]["calls_while_throttled"] == 1
    assert cast.events("checklist.fail") == []


def test_a_policy_block_holds_the_ad_for_a_person(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    sandbox.faults(kind="policy_block", next=1, methods=["POST"])
    checklist_id = queued(cast)
    run(app, worker)
    assert cast.checklist(checklist_id).state == "held"
    submission = submission_of(app, checklist_id)
    assert (submission.status, json.loads(str(submission.error))["code"]) == ("held", 368)
    assert submission.attempts == 1  # not retried blindly
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert 'id="resume"' in page
    assert cast.events("checklist.park", checklist_id)
    assert cast.post(cast.manager, f"/checklists/{checklist_id}/resume").status_code == 302
    run(app, worker)
    assert cast.checklist(checklist_id).state == "submitted"


# --- nothing at Meta that adgate does not track --------------------------------------------


def live_ads(sandbox: Sandbox) -> list[dict[str, object]]:
    return [a for a in sandbox.objects()["ads"] if a["status"] != "DELETED"]


def live(sandbox: Sandbox, edge: str) -> list[dict[str, object]]:
    return [o for o in sandbox.objects()[edge] if o.get("status") != "DELETED"]


def test_a_withdrawal_after_a_lost_answer_removes_what_meta_made(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id = queued(cast)
    # The campaign is created at Meta, its answer never arrives; Meta's reads lag behind.
    sandbox.app.extensions["meta_sandbox"].visibility_delay = 0.2
    lossy = Worker(Watched(make_gateway(app), sandbox, lose="campaign"), name=worker.name)
    with app.app_context():
        claimed = lossy.claim()
        assert claimed is not None
        lossy.send(claimed)
    lost = submission_of(app, checklist_id)
    assert (lost.status, lost.creating, lost.campaign_id) == ("queued", "campaign", None)
    assert len(live(sandbox, "campaigns")) == 1

    assert (
        cast.post(
            cast.manager, f"/checklists/{checklist_id}/withdraw", {"reason": "Abgesagt"}
        ).status_code
        == 302
    )
    assert cast.checklist(checklist_id).state == "withdrawn"
    assert submission_of(app, checklist_id).cleanup == "pending"
    time.sleep(0.3)
    run(app, worker)
    for _ in range(20):
        if submission_of(app, checklist_id).cleanup == "done":
            break
        time.sleep(0.05)
        with app.app_context():
            worker.run_once()
    assert submission_of(app, checklist_id).cleanup == "done"
    assert live(sandbox, "campaigns") == []
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert 'id="cleanup"' in page
    assert cast.events("submission.objects_removed")


def test_a_blocked_retry_removes_what_the_first_attempt_made(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id = queued(cast)
    # Everything but the ad is recorded; the ad's answer is lost.
    from app.submissions.worker import make_gateway
    from tests.app.submissions.test_worker import Watched

    lossy = Worker(Watched(make_gateway(app), sandbox, lose="ad"), name=worker.name)
    with app.app_context():
        claimed = lossy.claim()
        assert claimed is not None
        lossy.send(claimed)
    assert submission_of(app, checklist_id).creating == "ad"
    assert len(live_ads(sandbox)) == 1
    # The checks no longer pass when the retry runs them.
    with app.app_context(), transaction() as db:
        for verification in db.scalars(select(IdentityVerification)):
            verification.revoked_at = utcnow()
            db.add(verification)
    run(app, worker)
    assert cast.checklist(checklist_id).state == "draft"
    first = submission_of(app, checklist_id)
    assert (first.status, first.cleanup) == ("failed", "done")
    assert live_ads(sandbox) == []
    assert live(sandbox, "campaigns") == []
    # Sent again: one ad for the checklist, not two.
    cast.verify_identity()
    cast.approve(checklist_id)
    cast.submit(checklist_id)
    run(app, worker)
    assert cast.checklist(checklist_id).state == "submitted"
    assert len(live_ads(sandbox)) == 1


def test_objects_meta_will_not_delete_are_paused_and_the_removal_ends(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id = queued(cast)
    lossy = Worker(Watched(make_gateway(app), sandbox, lose="ad"), name=worker.name)
    with app.app_context():
        claimed = lossy.claim()
        assert claimed is not None
        lossy.send(claimed)
    assert (
        cast.post(
            cast.manager, f"/checklists/{checklist_id}/withdraw", {"reason": "Abgesagt"}
        ).status_code
        == 302
    )
    # Meta refuses every delete for good (code 368 is no fault that passes): adgate pauses
    # what it can and ends, instead of trying again and again.
    sandbox.faults(kind="policy_block", rate=1.0, methods=["DELETE"])
    for _ in range(60):
        if submission_of(app, checklist_id).cleanup == "done":
            break
        with app.app_context():
            worker.run_once()
        time.sleep(0.05)
    assert submission_of(app, checklist_id).cleanup == "done"
    removals = [json.loads(e.data) for e in cast.events("submission.objects_removed")]
    refused = {k: v for r in removals for k, v in r.get("not_deleted", {}).items()}
    objects = sandbox.objects()
    ids = {edge: objects[edge][0]["id"] for edge in ("campaigns", "adsets", "adcreatives", "ads")}
    assert set(refused) == set(ids.values())
    for edge in ("campaigns", "adsets", "ads"):
        assert refused[ids[edge]].startswith("paused")
        assert at_sandbox(sandbox, edge, ids[edge])["status"] == "PAUSED"
    assert refused[ids["adcreatives"]].startswith("not deleted")


def test_reconciliation_removes_what_no_submission_tracks(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id, ad_id = sent(cast, app, worker)
    ours = installation(app)
    with app.app_context():
        gateway = worker.gateway
        from app.meta.gateway import AdSpec

        stray = AdSpec(
            submission_id=4242, ad_account_id="act_1001", page_id="2001", message="m",
            headline="h", link_url="https://example.ch", countries=("CH",), siep=False,
            installation=ours,
        )  # fmt: skip
        stray_id = gateway.create(stray, "campaign", {})
        other = AdSpec(**{**stray.__dict__, "installation": "0badc0de"})
        other_id = gateway.create(other, "campaign", {})
    app.config["WORKER_LEASE_SECONDS"] = 0  # no grace for objects made a moment ago
    result = app.test_cli_runner().invoke(args=["meta", "reconcile"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.split("\n1 untracked")[0])
    assert report["tracked"] == 4  # the sent ad's campaign, ad set, creative and ad
    assert [(u["id"], u["action"]) for u in report["untracked"]] == [(stray_id, "deleted")]
    assert report["other_installations"] == {"0badc0de": 1}
    assert at_sandbox(sandbox, "campaigns", stray_id)["status"] == "DELETED"
    assert at_sandbox(sandbox, "campaigns", other_id)["status"] != "DELETED"
    assert at_sandbox(sandbox, "ads", ad_id)["status"] != "DELETED"
    assert cast.events("meta.untracked_object")
    assert cast.checklist(checklist_id).state == "submitted"


def test_a_look_up_after_a_lost_answer_waits_for_metas_reads(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id = queued(cast)
    sandbox.app.extensions["meta_sandbox"].visibility_delay = 0.3
    app.config.update(WORKER_LOOKUP_WAIT_SECONDS=0.1, WORKER_LOOKUPS=4)
    lossy = Worker(Watched(make_gateway(app), sandbox, lose="campaign"), name=worker.name)
    deadline = time.monotonic() + 10
    with app.app_context():
        while submission_of(app, checklist_id).status != "submitted":
            assert time.monotonic() < deadline
            lossy.run_once()
            time.sleep(0.05)
    assert len(live(sandbox, "campaigns")) == 1  # found, not created again
    looked = [json.loads(e.data) for e in cast.events("checklist.retry", checklist_id)]
    assert [d.get("looking_up") for d in looked if "looking_up" in d][:1] == ["campaign"]
    assert cast.events("submission.duplicates_removed") == []


def test_two_installations_on_one_account_never_take_each_others_objects(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id, _ = sent(cast, app, worker)
    submission = submission_of(app, checklist_id)
    names = {c["name"] for c in sandbox.objects()["campaigns"]}
    assert names == {f"adgate-{installation(app)}-{submission.id}-campaign"}


@pytest.mark.parametrize("status", ["PAUSED", "ACTIVE"])
def test_activation_and_pause_over_the_api(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker, status: str
) -> None:
    from tests.api.conftest import Api, issue_token

    checklist_id, ad_id = sent(cast, app, worker)
    review(sandbox, ad_id, status)
    run(app, worker)
    token = issue_token(app, "manager@example.org", ["submissions:write", "checklists:read"])
    api = Api(app.test_client(), token)
    if status == "PAUSED":
        answer = api.post(f"/checklists/{checklist_id}/activation")
        assert answer.status_code == 202, answer.get_json()
        assert answer.get_json()["submission"]["status"] == "activating"
        refused = api.post(f"/checklists/{checklist_id}/activation")
        assert refused.status_code == 409
        run(app, worker)
        assert cast.checklist(checklist_id).state == "live"
    else:
        assert api.post(f"/checklists/{checklist_id}/activation").status_code == 409
        answer = api.post(f"/checklists/{checklist_id}/pause")
        assert answer.status_code == 202, answer.get_json()
        run(app, worker)
        assert cast.checklist(checklist_id).state == "paused"
    body = api.get(f"/checklists/{checklist_id}").get_json()
    assert body["submission"]["effective_status"] in ("ACTIVE", "PAUSED")
