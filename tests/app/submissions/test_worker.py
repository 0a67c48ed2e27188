"""The worker with the real facebook-business SDK against the sandbox Graph server over HTTP."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import event, select

from app.db import engine, transaction
from app.meta.gateway import (
    KINDS,
    AccountReading,
    AdSpec,
    AdStatus,
    Gateway,
    MetaError,
    Named,
    Usage,
)
from app.meta.sdk import SdkGateway
from app.models import AdAccount, IdentityVerification, User, utcnow
from app.submissions.worker import ID_COLUMNS, Worker, make_gateway
from tests.app.conftest import (
    CH_FORM,
    Cast,
    Sandbox,
    installation,
    queued,
    queued_many,
    register_unknown_at_meta,
    run,
    submission_of,
)
from tests.conftest import jpeg, png


def test_a_ch_political_ad_reaches_meta_with_the_right_fields(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id = queued(cast)
    run(app, worker)
    assert cast.checklist(checklist_id).state == "submitted"
    submission = submission_of(app, checklist_id)
    objects = sandbox.objects()
    [campaign] = objects["campaigns"]
    [adset] = objects["adsets"]
    [creative] = objects["adcreatives"]
    [ad] = objects["ads"]
    assert campaign["special_ad_categories"] == ["ISSUES_ELECTIONS_POLITICS"]
    assert campaign["special_ad_category_country"] == ["CH"]
    assert campaign["status"] == "PAUSED"
    assert campaign["name"] == f"adgate-{installation(app)}-{submission.id}-campaign"
    # The budget sits on the ad set, so the campaign says it is not shared (v24.0).
    assert campaign["params"]["is_adset_budget_sharing_enabled"] is False
    assert "daily_budget" not in campaign["params"]
    assert adset["params"]["targeting"] == {
        "geo_locations": {"countries": ["CH"]},
        "publisher_platforms": ["facebook", "instagram"],
        "facebook_positions": ["feed"],
        "instagram_positions": ["stream"],
        "targeting_automation": {"advantage_audience": 0},
    }
    assert adset["params"]["daily_budget"] == "1000"
    assert adset["params"]["bid_strategy"] == "LOWEST_COST_WITHOUT_CAP"
    assert "start_time" not in adset["params"]
    assert "end_time" not in adset["params"]
    assert adset["campaign_id"] == campaign["id"]
    assert "dsa_payor" not in adset
    assert creative["authorization_category"] == "POLITICAL"
    assert creative["object_story_spec"]["page_id"] == "2001"
    assert "image_hash" not in creative["object_story_spec"]["link_data"]
    # Declared on the creative only: the ad carries no authorization_category.
    assert "authorization_category" not in ad["params"]
    assert ad["status"] == "PAUSED"
    recorded = [submission.campaign_id, submission.adset_id, submission.creative_id]
    assert [*recorded, submission.ad_id] == [campaign["id"], adset["id"], creative["id"], ad["id"]]
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert ad["id"] in page.split('id="meta-ids"')[1]
    kinds = [e.kind for e in cast.events(subject=submission.id) if e.subject_type == "submission"]
    assert kinds.count("submission.object_created") == 4


def test_digitally_created_media_and_a_non_political_ad(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    digital = cast.create()
    cast.classify(digital, "POLITICAL", digitally_created_media="y")
    cast.attest(digital)
    cast.verify_identity()
    cast.approve(digital)
    cast.submit(digital)
    plain = cast.create(
        title="Sommerfest", headline="Sommerfest", message="Sommerfest im Stadtpark mit Musik."
    )
    cast.classify(plain, "NONE")
    cast.attest(plain)
    cast.approve(plain)
    cast.submit(plain)
    run(app, worker)
    campaigns = {c["name"]: c for c in sandbox.objects()["campaigns"]}
    creatives = {c["name"]: c for c in sandbox.objects()["adcreatives"]}
    d, p = submission_of(app, digital).id, submission_of(app, plain).id
    i = installation(app)
    assert creatives[f"adgate-{i}-{d}-creative"]["authorization_category"] == (
        "POLITICAL_WITH_DIGITALLY_CREATED_MEDIA"
    )
    assert campaigns[f"adgate-{i}-{p}-campaign"]["special_ad_categories"] == []
    assert "special_ad_category_country" not in campaigns[f"adgate-{i}-{p}-campaign"]
    assert creatives[f"adgate-{i}-{p}-creative"]["authorization_category"] == "NONE"


def test_an_eu_political_ad_never_reaches_meta_and_meta_would_refuse_it(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id = cast.create(
        countries="AT", dsa_payor="Stadt X", dsa_beneficiary="Stadt X", save_anyway="y"
    )
    cast.ready(checklist_id)
    cast.verify_identity("AT")
    cast.submit(checklist_id)
    assert cast.checklist(checklist_id).state == "draft"
    run(app, worker)
    assert sandbox.objects()["campaigns"] == []
    # Forced past adgate's own check, the sandbox refuses it as Meta does.
    spec = AdSpec(
        submission_id=999, ad_account_id="act_1001", page_id="2001", message="m", headline="h",
        link_url="https://example.org", countries=("AT",), siep=True,
        dsa_payor="Stadt X", dsa_beneficiary="Stadt X",
    )  # fmt: skip
    gateway = SdkGateway(access_token="t", graph_url=sandbox.url, api_version="v26.0", timeout=5)
    with pytest.raises(MetaError) as refused:
        gateway.create(spec, "campaign", {})
    assert refused.value.code is not None
    assert not refused.value.transient
    assert refused.value.fbtrace_id
    assert sandbox.objects()["campaigns"] == []


def test_fifty_submissions_through_thirty_percent_transient_faults(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    ids = queued_many(cast, 50)
    sandbox.faults(kind="rate_limit", code=17, rate=0.15)
    sandbox.faults(kind="server_error", rate=0.15)
    run(app, worker, rounds=2000)
    failures = [submission_of(app, i).error for i in ids if cast.checklist(i).state != "submitted"]
    assert failures == []
    objects = sandbox.objects()
    assert len(objects["ads"]) == 50
    assert len({a["name"] for a in objects["ads"]}) == 50
    assert len(objects["campaigns"]) == 50
    retries = cast.events("checklist.retry")
    assert retries, "the faults should have caused retries"


def test_an_ambiguous_failure_is_looked_up_not_created_twice(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id = queued(cast)
    # The campaign is created at Meta but the answer never arrives.
    sandbox.faults(kind="drop", next=1, methods=["POST"])
    run(app, worker)
    assert cast.checklist(checklist_id).state == "submitted"
    objects = sandbox.objects()
    assert [len(objects[k]) for k in ("campaigns", "adsets", "adcreatives", "ads")] == [1, 1, 1, 1]


@dataclass
class Watched:
    """The real gateway, its look-ups listed; the answer to the first create of ``lose`` is
    lost on the way back (Meta has the object); the first ``blind`` look-ups find nothing
    (Meta's reads lag behind its writes)."""

    inner: Gateway
    sandbox: Sandbox
    lose: str | None = None
    blind: int = 0
    finds: list[str] = field(default_factory=list)
    lost: bool = False

    def validate(self, spec: AdSpec) -> None:
        self.inner.validate(spec)

    def create(self, spec: AdSpec, kind: str, parents: dict[str, str]) -> str:
        if kind == self.lose and not self.lost:
            self.lost = True
            self.sandbox.faults(kind="drop", next=1, methods=["POST"])
        return self.inner.create(spec, kind, parents)

    def find(self, spec: AdSpec, kind: str) -> list[Named]:
        self.finds.append(kind)
        if len(self.finds) <= self.blind:
            return []
        return self.inner.find(spec, kind)

    def delete(self, kind: str, object_id: str) -> None:
        self.inner.delete(kind, object_id)

    def set_status(self, kind: str, object_id: str, status: str) -> None:
        self.inner.set_status(kind, object_id, status)

    def read_ads(self, ad_ids: Sequence[str]) -> dict[str, AdStatus]:
        return self.inner.read_ads(ad_ids)

    def list_named(self, ad_account_id: str, kind: str) -> list[Named]:
        return self.inner.list_named(ad_account_id, kind)

    def read_account(self, ad_account_id: str) -> AccountReading:
        return self.inner.read_account(ad_account_id)

    def take_usage(self) -> dict[str, Usage]:
        return self.inner.take_usage()


@pytest.mark.parametrize("kind", KINDS)
def test_an_object_whose_id_was_lost_is_found_by_name_not_created_again(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker, kind: str
) -> None:
    checklist_id = queued(cast, image=("ad.png", png(1200, 628)))
    gateway = Watched(make_gateway(app), sandbox, lose=kind)
    lossy = Worker(gateway, name=worker.name)
    with app.app_context():
        submission_id = lossy.claim()
        assert submission_id is not None
        lossy.send(submission_id)
    # The attempt failed after Meta created the object; adgate still knows what it was creating.
    failed = submission_of(app, checklist_id)
    column = ID_COLUMNS[kind]
    assert (failed.status, failed.creating, getattr(failed, column)) == ("queued", kind, None)
    before = KINDS[: KINDS.index(kind)]
    assert all(getattr(failed, ID_COLUMNS[k]) for k in before)
    run(app, lossy)
    # Looked up before it is created again (an image: uploaded again, which gives its hash);
    # found, so not created again, and nothing else listed (a first create has no twin).
    assert gateway.finds == ([] if kind == "image" else [kind])
    done = submission_of(app, checklist_id)
    assert (done.status, done.creating) == ("submitted", None)
    objects = sandbox.objects()
    edges = ("campaigns", "adsets", "adimages", "adcreatives", "ads")
    assert [len(objects[e]) for e in edges] == [1, 1, 1, 1, 1]
    key = {"adimages": "hash"}
    assert [getattr(done, ID_COLUMNS[k]) for k in KINDS] == [
        objects[e][0][key.get(e, "id")] for e in edges
    ]
    created = cast.events("submission.object_created", done.id)
    assert [json.loads(e.data)["kind"] for e in created] == list(KINDS)


def test_created_again_after_lagging_reads_the_oldest_stays_and_the_twin_goes(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id = queued(cast)
    app.config.update(WORKER_LOOKUPS=1, WORKER_LOOKUP_WAIT_SECONDS=0)
    gateway = Watched(make_gateway(app), sandbox, lose="campaign", blind=2)
    run(app, Worker(gateway, name=worker.name))
    done = submission_of(app, checklist_id)
    assert done.status == "submitted"
    first, twin = sandbox.objects()["campaigns"]
    assert first["name"] == twin["name"]
    assert (done.campaign_id, first["status"], twin["status"]) == (first["id"], "PAUSED", "DELETED")
    # Looked up twice (nothing seen), created again, then listed: both there now.
    assert gateway.finds == ["campaign"] * 3
    [removed] = cast.events("submission.duplicates_removed", done.id)
    assert json.loads(removed.data) == {
        "kind": "campaign",
        "kept": first["id"],
        "deleted": [twin["id"]],
        "name": first["name"],
    }


def test_a_submission_is_sent_in_six_transactions(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id = queued(cast)
    gateway = Watched(make_gateway(app), sandbox)
    watched = Worker(gateway, name=worker.name)
    commits: list[object] = []

    def count(conn: object) -> None:
        commits.append(conn)

    with app.app_context():
        eng = engine()
        event.listen(eng, "commit", count)
        try:
            submission_id = watched.claim()
            assert submission_id is not None
            watched.send(submission_id)
        finally:
            event.remove(eng, "commit", count)
    # The claim (which reads what to send), the campaign's intent, the campaign's, the ad
    # set's and the creative's ids each with the next object's intent, the ad's id with the
    # confirmation: every id is recorded the moment it comes back.
    assert len(commits) == 6
    # Nothing was ambiguous: no look-up before a create, no listing after one (no twin can
    # exist), so four calls to Meta and no more.
    assert gateway.finds == []
    assert submission_of(app, checklist_id).status == "submitted"


def test_the_worker_logs_its_progress_at_info_without_the_token(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    sent = queued(cast)
    register_unknown_at_meta(app, "act_1003", "2003")
    refused = queued(cast, ad_account_id="act_1003", page_id="2003")
    with caplog.at_level(logging.INFO, logger="app.submissions.worker"):
        run(app, worker)
    lines = [r.getMessage() for r in caplog.records if r.name == "app.submissions.worker"]
    assert all(r.levelno == logging.INFO for r in caplog.records if "submission" in r.getMessage())
    first, second = submission_of(app, sent), submission_of(app, refused)
    assert f"submission {first.id} claimed by test-worker (attempt 1)" in lines
    assert f"submission {first.id}: sending to Meta (campaign, adset, creative, ad)" in lines
    assert f"submission {first.id}: campaign {first.campaign_id} created at Meta" in lines
    assert f"submission {first.id} sent: Meta reviews ad {first.ad_id}" in lines
    [failure] = [line for line in lines if line.startswith(f"submission {second.id}: Meta error")]
    assert failure.endswith("; failed")
    assert not any("sandbox-token" in line for line in lines)


def test_a_permanent_error_fails_with_metas_details(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    # Registered in adgate, unknown at Meta: only Meta can refuse it.
    register_unknown_at_meta(app, "act_1003", "2003")
    checklist_id = queued(cast, ad_account_id="act_1003", page_id="2003")
    run(app, worker)
    submission = submission_of(app, checklist_id)
    assert submission.status == "failed"
    assert cast.checklist(checklist_id).state == "failed"
    error = json.loads(submission.error or "{}")
    assert error["code"] is not None
    assert error["fbtrace_id"]
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert 'id="meta-error"' in page
    assert "sandbox-token" not in json.dumps([e.data for e in cast.events()])


@pytest.mark.parametrize("change", ["two_factor_off", "identity_expired", "account_revoked"])
def test_a_check_that_stops_passing_after_submit_stops_the_send(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker, change: str
) -> None:
    checklist_id = queued(cast)
    with app.app_context(), transaction() as db:
        if change == "two_factor_off":
            manager = db.get(User, cast.manager_user.id)
            assert manager is not None
            manager.totp_secret = None
            db.add(manager)
        elif change == "identity_expired":
            for verification in db.scalars(select(IdentityVerification)):
                verification.expires_on = utcnow().date() - timedelta(days=1)
                db.add(verification)
        else:
            account = db.get(AdAccount, "act_1001")
            assert account is not None
            account.political_eligible = False
            db.add(account)
    run(app, worker)
    assert sandbox.objects()["campaigns"] == []
    assert cast.checklist(checklist_id).state == "draft"
    assert submission_of(app, checklist_id).status == "failed"
    [blocked] = cast.events("checklist.send_blocked", checklist_id)
    assert json.loads(blocked.data)["blocked"]


def test_review_rejection_records_a_violation_and_blocks_the_next_siep_ad(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    approved = queued(cast)
    # An admin records an authorization Meta does not have: adgate lets the ad pass, Meta
    # disapproves it in its review.
    register_unknown_at_meta(app, "act_1002", "2002")
    rejected = queued(cast, ad_account_id="act_1002", page_id="2002", title="Nicht autorisiert")
    run(app, worker)
    sandbox.review_now()
    run(app, worker)
    # Approved by Meta: created paused, it stays paused until someone starts it.
    assert cast.checklist(approved).state == "paused"
    assert cast.checklist(rejected).state == "rejected"
    with app.app_context(), transaction(write=False) as db:
        account = db.get(AdAccount, "act_1002")
        assert account is not None
        assert (account.violations, account.political_eligible) == (1, False)
    assert len(cast.events("ad_account.eligibility_lost")) == 1
    page = cast.manager.get(f"/checklists/{rejected}").get_data(as_text=True)
    assert 'id="review-feedback"' in page
    following = cast.create(ad_account_id="act_1002", page_id="2002", title="Danach")
    cast.classify(following)
    assert cast.steps(cast.manager, following)["standing"] == "failed"


def test_budget_schedule_placements_and_image_travel_to_meta(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    start = (utcnow() + timedelta(days=2)).replace(second=0, microsecond=0)
    end = start + timedelta(days=5)
    local = "%Y-%m-%dT%H:%M"
    berlin = ZoneInfo("Europe/Berlin")
    checklist_id = queued(
        cast,
        budget_type="lifetime",
        budget_amount="75.50",
        start_time=start.astimezone(berlin).strftime(local),
        end_time=end.astimezone(berlin).strftime(local),
        placements=["instagram"],
        image=("plakat.jpg", jpeg(1080, 1080)),
    )
    run(app, worker)
    assert cast.checklist(checklist_id).state == "submitted"
    objects = sandbox.objects()
    [adset], [creative], [image] = objects["adsets"], objects["adcreatives"], objects["adimages"]
    assert adset["params"]["lifetime_budget"] == "7550"
    assert "daily_budget" not in adset["params"]
    assert adset["params"]["start_time"] == start.strftime("%Y-%m-%dT%H:%M:%S+0000")
    assert adset["params"]["end_time"] == end.strftime("%Y-%m-%dT%H:%M:%S+0000")
    assert adset["params"]["targeting"]["publisher_platforms"] == ["instagram"]
    assert adset["params"]["targeting"]["instagram_positions"] == ["stream"]
    assert "facebook_positions" not in adset["params"]["targeting"]
    assert creative["object_story_spec"]["link_data"]["image_hash"] == image["hash"]
    assert submission_of(app, checklist_id).image_hash == image["hash"]
    page = cast.manager.get(f"/checklists/{checklist_id}").get_data(as_text=True)
    assert "75.50 CHF" in page
    shown = cast.reviewer.get(f"/checklists/{checklist_id}/image")
    assert (shown.status_code, shown.mimetype) == (200, "image/jpeg")


def test_a_change_of_budget_voids_the_approval(cast: Cast) -> None:
    checklist_id = cast.create()
    cast.ready(checklist_id)
    assert cast.approve(checklist_id).status_code == 302
    edited = cast.post(
        cast.manager,
        f"/checklists/{checklist_id}/edit",
        {**CH_FORM, "budget_amount": "12.00", "version": cast.version(checklist_id)},
    )
    assert edited.status_code == 302
    checklist = cast.checklist(checklist_id)
    assert (checklist.state, checklist.approved_by, checklist.budget_amount) == (
        "draft",
        None,
        1200,
    )
    # A budget is not content: the classification stays.
    assert checklist.category == "POLITICAL"


def test_with_the_app_secret_every_call_carries_the_proof(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    # The sandbox now behaves as a Meta app with "Require App Secret" on.
    sandbox.app.config["APP_SECRET"] = "the-apps-secret"
    refused = queued(cast, title="Ohne Nachweis")
    run(app, worker)
    error = json.loads(submission_of(app, refused).error or "{}")
    assert (error["code"], error["user_title"]) == (100, "App Secret Proof Required")
    assert sandbox.objects()["campaigns"] == []

    app.config["META_APP_SECRET"] = "the-apps-secret"
    proved = queued(cast, title="Mit Nachweis")
    run(app, Worker(make_gateway(app), name=worker.name))
    assert cast.checklist(proved).state == "submitted"


def test_the_worker_sends_only_what_was_submitted(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    """The submission records the content hash approved and checked at submit; content that
    hashes otherwise when the worker takes it (here: the stored record changed behind the
    service's back) is not sent."""
    from app.models import Submission

    checklist_id = queued(cast)
    with app.app_context(), transaction() as db:
        submission = db.scalars(select(Submission)).one()
        submission.content_hash = "0" * 64
        db.add(submission)
    run(app, worker)
    failed = submission_of(app, checklist_id)
    assert failed.status == "failed"
    error = json.loads(failed.error or "{}")
    assert error["code"] == "checks_failed"
    assert [(u["step"], u["code"]) for u in error["unmet"]] == [
        ("approval", "approval.not_submitted")
    ]
    assert sandbox.objects()["campaigns"] == []
    [blocked] = cast.events("checklist.send_blocked", checklist_id)
    assert "not_submitted" in blocked.data
