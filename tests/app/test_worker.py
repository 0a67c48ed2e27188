"""The worker with the real facebook-business SDK against the sandbox Graph server over HTTP."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import event, select

from app.db import engine, transaction
from app.meta.gateway import KINDS, AdSpec, Gateway, MetaError, Review, SdkGateway
from app.meta.worker import Worker, make_gateway
from app.models import AdAccount, IdentityVerification, User, utcnow
from tests.app.conftest import Cast, Sandbox, queued, queued_many, run, submission_of


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
    assert campaign["name"] == f"adgate-{submission.id}-campaign"
    assert adset["targeting"]["geo_locations"]["countries"] == ["CH"]
    assert adset["campaign_id"] == campaign["id"]
    assert "dsa_payor" not in adset
    assert creative["authorization_category"] == "POLITICAL"
    assert creative["object_story_spec"]["page_id"] == "2001"
    assert ad["authorization_category"] == "POLITICAL"
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
    assert creatives[f"adgate-{d}-creative"]["authorization_category"] == (
        "POLITICAL_WITH_DIGITALLY_CREATED_MEDIA"
    )
    assert campaigns[f"adgate-{p}-campaign"]["special_ad_categories"] == []
    assert "special_ad_category_country" not in campaigns[f"adgate-{p}-campaign"]
    assert creatives[f"adgate-{p}-creative"]["authorization_category"] == "NONE"


def test_an_eu_political_ad_never_reaches_meta_and_meta_would_refuse_it(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    checklist_id = cast.create(countries="AT", dsa_payor="Stadt X", dsa_beneficiary="Stadt X")
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
    """The real gateway, its lookups listed; the answer to the first create of ``lose`` is
    lost on the way back (Meta has the object)."""

    inner: Gateway
    sandbox: Sandbox
    lose: str | None = None
    finds: list[str] = field(default_factory=list)

    def validate(self, spec: AdSpec) -> None:
        self.inner.validate(spec)

    def create(self, spec: AdSpec, kind: str, parents: dict[str, str]) -> str:
        if kind == self.lose and not self.finds:
            self.sandbox.faults(kind="drop", next=1, methods=["POST"])
        return self.inner.create(spec, kind, parents)

    def find(self, spec: AdSpec, kind: str) -> str | None:
        self.finds.append(kind)
        return self.inner.find(spec, kind)

    def review(self, ad_id: str) -> Review:
        return self.inner.review(ad_id)


@pytest.mark.parametrize("kind", KINDS)
def test_an_object_whose_id_was_lost_is_found_by_name_not_created_again(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker, kind: str
) -> None:
    checklist_id = queued(cast)
    gateway = Watched(make_gateway(app), sandbox, lose=kind)
    lossy = Worker(gateway, name=worker.name)
    with app.app_context():
        submission_id = lossy.claim()
        assert submission_id is not None
        lossy.send(submission_id)
    # The attempt failed after Meta created the object; adgate still knows what it was creating.
    failed = submission_of(app, checklist_id)
    assert (failed.status, failed.creating, getattr(failed, f"{kind}_id")) == ("queued", kind, None)
    before = KINDS[: KINDS.index(kind)]
    assert all(getattr(failed, f"{k}_id") for k in before)
    run(app, lossy)
    assert gateway.finds == [kind]
    done = submission_of(app, checklist_id)
    assert (done.status, done.creating) == ("submitted", None)
    objects = sandbox.objects()
    edges = ("campaigns", "adsets", "adcreatives", "ads")
    assert [len(objects[e]) for e in edges] == [1, 1, 1, 1]
    assert [getattr(done, f"{k}_id") for k in KINDS] == [objects[e][0]["id"] for e in edges]
    created = cast.events("submission.object_created", done.id)
    assert [json.loads(e.data)["kind"] for e in created] == list(KINDS)


def test_a_submission_is_sent_in_seven_transactions(
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
    # The claim, reading what to send, the campaign's intent, the campaign's, the ad set's
    # and the creative's ids each with the next object's intent, the ad's id with the
    # confirmation: every id is recorded the moment it comes back.
    assert len(commits) == 7
    assert gateway.finds == []  # nothing was ambiguous: no lookups
    assert submission_of(app, checklist_id).status == "submitted"


def test_a_permanent_error_fails_with_metas_details(
    cast: Cast, app: Flask, sandbox: Sandbox, worker: Worker
) -> None:
    # Registered in adgate, unknown at Meta: only Meta can refuse it.
    with app.app_context(), transaction() as db:
        from app.admin.ad_accounts import add

        add(db, "act_1003", "2003", "Unbekannt bei Meta", utcnow())
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
    with app.app_context(), transaction() as db:
        from app.admin.ad_accounts import add

        add(db, "act_1002", "2002", "Gemeinde Beispielhausen", utcnow())
    rejected = queued(cast, ad_account_id="act_1002", page_id="2002", title="Nicht autorisiert")
    run(app, worker)
    sandbox.review_now()
    run(app, worker)
    assert cast.checklist(approved).state == "live"
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
