"""The API's body limits and NUL guard: clear problems, never a 500, nothing stored."""

from __future__ import annotations

import base64
import io
import json
import os
from typing import Any

from PIL import Image

from app.api.problems import TYPES
from app.inputs import MAX_JSON_DEPTH
from tests.api.conftest import NEW_CHECKLIST, ApiCast


def _problem(response: object, status: int, name: str) -> dict[str, object]:
    assert response.status_code == status, response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.mimetype == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.get_json()  # type: ignore[attr-defined]
    assert body["type"] == f"urn:adgate:problem:{name}"
    assert body["title"] == TYPES[name][1]
    return body


def _raw(api: ApiCast, path: str, body: bytes) -> object:
    return api.manager.call("POST", path, data=body, headers={"Content-Type": "application/json"})


def test_json_nested_ten_thousand_deep_is_a_400_not_a_crash(api: ApiCast) -> None:
    body = _problem(_raw(api, "/checklists", b"[" * 10_000), 400, "invalid-json")
    assert f"deeper than {MAX_JSON_DEPTH} levels" in str(body["detail"])
    nested = b'{"title": "x", "ad": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    _problem(_raw(api, "/checklists", nested), 400, "invalid-json")
    # Depth within the limit is the models' to judge.
    fine = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    _problem(_raw(api, "/checklists", fine), 422, "validation-failed")
    assert api.manager.get("/checklists").get_json()["checklists"] == []


def test_a_json_body_above_one_megabyte_is_a_413(api: ApiCast) -> None:
    big = {**NEW_CHECKLIST, "title": "x" * (2 * 1024 * 1024)}
    _problem(api.manager.post("/checklists", big), 413, "payload-too-large")
    assert api.manager.get("/checklists").get_json()["checklists"] == []


def test_an_image_of_several_megabytes_is_still_taken(api: ApiCast) -> None:
    out = io.BytesIO()
    Image.frombytes("RGB", (1200, 1200), os.urandom(1200 * 1200 * 3)).save(out, format="PNG")
    assert len(out.getvalue()) > 3 * 1024 * 1024
    answer = api.manager.post("/images", {"data": base64.b64encode(out.getvalue()).decode()})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["size"] == len(out.getvalue())


def test_the_image_allowance_is_only_for_images(api: ApiCast) -> None:
    """The larger limit of POST /images does not leak to other operations."""
    padded = json.dumps({**NEW_CHECKLIST, "ad": {**NEW_CHECKLIST["ad"], "x": "y" * 3_000_000}})
    _problem(_raw(api, "/checklists", padded.encode()), 413, "payload-too-large")


def test_a_nul_anywhere_is_a_400_naming_the_field(api: ApiCast) -> None:
    body = {**NEW_CHECKLIST, "ad": {**NEW_CHECKLIST["ad"], "countries": ["CH", "L\x00I"]}}
    problem = _problem(api.manager.post("/checklists", body), 400, "bad-request")
    errors: Any = problem["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("ad.countries.1", "nul_character")]
    assert "NUL" in errors[0]["detail"]
    # In a key the model does not know, and in the query string, just the same.
    keyed = _problem(api.manager.post("/checklists", {**NEW_CHECKLIST, "ti\x00tle": 1}), 400,
                     "bad-request")  # fmt: skip
    assert keyed["errors"][0]["field"] == "ti\x00tle"  # type: ignore[index]
    query = _problem(api.manager.get("/checklists?cursor=%00"), 400, "bad-request")
    assert query["errors"][0]["field"] == "cursor"  # type: ignore[index]
    assert api.manager.get("/checklists").get_json()["checklists"] == []


def test_a_nul_without_a_token_is_still_a_401(api: ApiCast) -> None:
    response = api.manager.client.post("/api/v1/checklists", json={"title": "\x00"})
    _problem(response, 401, "unauthorized")
