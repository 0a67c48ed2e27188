"""The Meta sandbox: a local HTTP server that speaks the Graph API v26.0 adgate uses.

The real facebook-business SDK runs against it unchanged (``session.GRAPH`` set to
its base URL). It stands in for Meta, so it is a package of its own that imports nothing
of adgate, and a Flask app of its own, not adgate's: it keeps its state in memory, or in
a JSON file of its own (``state_file``), never in adgate's database.

Its parts: ``server`` (the app, the server, ``flask meta-sandbox``), ``routes`` (the Graph
API and the control API below), ``store`` (the objects it holds), ``checks`` (Meta's rules
for each call) with ``rules`` (every refusal and its source), ``declared`` (what the SDK
declares a call may carry), ``params``, ``errors``, ``accounts``, ``reviews``, ``faults``,
``usage`` (Meta's rate limits) and ``webhooks``.

Graph paths (all under ``/v26.0``; the access token comes as ``access_token``):

- ``POST act_<id>/campaigns|adsets|adcreatives|ads`` create an object and answer
  ``{"id": ...}``; with ``execution_options=["validate_only"]`` every rule runs,
  nothing is created, and the answer is ``{"success": true}``.
- ``GET act_<id>/campaigns|adsets|adcreatives|ads`` list the account's objects, newest
  first: ``fields`` (comma-separated; ``id`` always), ``filtering`` (``name`` with
  ``EQUAL`` or ``CONTAIN``, case-insensitive), ``limit`` (default 25) and ``after``
  (``paging.cursors.after``; ``paging.next`` only when more pages follow).
- ``GET <id>`` (an object or an ad account) answers the requested ``fields``.
  Ads have ``effective_status``: ``PENDING_REVIEW``, then their ``status`` once
  approved, or ``DISAPPROVED`` with ``ad_review_feedback`` ``{"global": {policy: text}}``.
  A field the object does not have is left out, as Meta does.

Errors (HTTP 400 unless noted; body ``{"error": {"message", "type", "code",
"error_subcode" (when there is one), "error_user_title", "error_user_msg",
"fbtrace_id", "is_transient"}}``). Codes are Meta's; the 18920xx subcodes are
the sandbox's own (Meta does not publish one per rule): key on the code.

- 190: no (or an empty) ``access_token``;
- 2635: a version other than v26.0; 2500: a path that names no object or edge;
- 100/33 (GraphMethodException): an unknown ad account or object;
- 100: an edge other than the four; a missing ``name`` (campaign, ad set, ad);
  a bad value: status not ACTIVE|PAUSED, an unknown category or NONE with
  another, a country list that is not ISO2 codes, a missing
  ``object_story_spec.page_id`` or ``authorization_category`` on a creative;
- 100/1892001: a campaign without ``special_ad_categories`` (send [] or ["NONE"]);
- 100/1892002: a SIEP campaign without ``special_ad_category_country``;
- 100/1892003: a SIEP campaign listing an EU member state (Meta's stop since
  2025-10-06, Regulation (EU) 2024/900);
- 100/1892004: an ad set whose ``campaign_id`` is no campaign of the account;
- 100/1892005: an ad set without ``targeting.geo_locations.countries``;
- 100/1892006: an ad set reaching the EU without ``dsa_payor`` and ``dsa_beneficiary``;
- 100/1892007: a SIEP campaign's ad set targeting a country its campaign's
  ``special_ad_category_country`` does not list;
- 100/1892008: a creative whose ``object_story_spec.page_id`` is not the account's page;
- 100/1892009: an ad whose ``adset_id`` is no ad set of the account;
- 100/1892010: an ad whose ``creative`` is not ``{"creative_id": <a creative of the
  account>}``;
- 100/1892011: an ``authorization_category`` inconsistent with the campaign: a
  SIEP campaign needs POLITICAL or POLITICAL_WITH_DIGITALLY_CREATED_MEDIA on the
  ad and its creative, any other campaign NONE on the creative and NONE or
  nothing on the ad; the ad's, when given, must equal the creative's.

Review: ``review_delay`` seconds after its creation (evaluated lazily whenever
the sandbox is read) an ad is approved, unless it is a SIEP ad whose page is not
authorized for political ads in every country its ad set targets, or whose ad
account has no "paid for by" disclaimer: then it is ``DISAPPROVED``.
``POST /__sandbox__/review`` (``{"ad_id": ...}`` optional) reviews pending ads now.

Faults (``POST /__sandbox__/faults``; ``GET`` lists, ``DELETE`` clears; only Graph
paths are affected). A fault is active for the ``next`` N Graph calls whose method
is in ``methods`` (all methods when absent), or indefinitely without ``next``; in
each of them it fires with probability ``rate`` (default 1). Of the faults that
fire on a call:

- ``rate_limit`` (``code`` 4 or 17: HTTP 403; 613 or 80004: HTTP 400; default 17)
  and ``server_error`` (``code`` 1 or 2, default 2: HTTP 500) refuse the call
  without performing it (``is_transient`` true); the first one listed wins;
- ``slow`` performs the call, then waits ``delay`` seconds before answering (a
  client that timed out does not know that the object exists);
- ``drop`` performs the call, then closes the TCP connection without an answer.

``GET /__sandbox__/objects`` lists everything held (with the sandbox's own
``created_at``, ``review_status``, ``reviewed_time``, and ``effective_status`` for
ads); ``POST /__sandbox__/reset`` removes every object and fault (the initial
accounts stay, ids keep counting). With a ``state_file`` the objects and the id
counter survive a restart (faults do not). Request log lines carry no query
string, so the access token never reaches a log.
"""

# The one Graph API version the sandbox speaks.
GRAPH_VERSION = "v26.0"
