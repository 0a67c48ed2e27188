"""Meta's error answers: :class:`GraphError`, and the refusals that are no rule of a call
(an unknown object or path, another version, no token, rate limits, server errors)."""

from __future__ import annotations

import json
from typing import Any

from app.sandbox import GRAPH_VERSION


class GraphError(Exception):
    """An error answered in Meta's format: ``{"error": {...}}`` with an HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        code: int,
        subcode: int | None = None,
        user_title: str,
        user_msg: str,
        error_type: str = "OAuthException",
        http_status: int = 400,
        transient: bool = False,
        blame: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code, self.subcode = code, subcode
        self.user_title, self.user_msg = user_title, user_msg
        self.error_type = error_type
        self.http_status = http_status
        self.transient = transient
        self.blame = blame

    def body(self, fbtrace_id: str) -> dict[str, Any]:
        """The response body; ``error_subcode`` only when the error has one (as Meta does)."""
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
            "error_user_title": self.user_title,
            "error_user_msg": self.user_msg,
            "fbtrace_id": fbtrace_id,
            "is_transient": self.transient,
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.blame:
            # Meta sends error_data as a JSON-encoded string.
            error["error_data"] = json.dumps({"blame_field_specs": [[f] for f in self.blame]})
        return {"error": error}


def unsupported_request(method: str, object_id: str) -> GraphError:
    """Meta's answer for an object that does not exist (or that the token may not use)."""
    verb = method.lower()
    return GraphError(
        f"Unsupported {verb} request. Object with ID '{object_id}' does not exist, cannot be"
        " loaded due to missing permissions, or does not support this operation. Please read"
        " the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        code=100,
        subcode=33,
        error_type="GraphMethodException",
        user_title="Object Not Found",
        user_msg=f"The object {object_id} does not exist or you may not use it.",
    )


# Rate limits Meta answers (code: HTTP status, subcode, message, user title).
RATE_LIMITS: dict[int, tuple[int, int | None, str, str]] = {
    4: (403, None, "(#4) Application request limit reached", "Application Request Limit Reached"),
    17: (403, 2446079, "(#17) User request limit reached", "User Request Limit Reached"),
    613: (
        400,
        1487742,
        "(#613) Calls to this api have exceeded the rate limit.",
        "Too Many Calls",
    ),
    80004: (
        400,
        2446079,
        "(#80004) There have been too many calls to this ad-account. Wait a bit and try again."
        " For more info, please refer to"
        " https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.",
        "Too Many Calls to This Ad Account",
    ),
}
SERVER_ERRORS = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
}


def rate_limit_error(code: int) -> GraphError:
    """A transient rate-limit refusal (``code`` in :data:`RATE_LIMITS`)."""
    http_status, subcode, message, title = RATE_LIMITS[code]
    return GraphError(
        message,
        code=code,
        subcode=subcode,
        user_title=title,
        user_msg="Too many calls in a short time. Wait a bit and try again.",
        http_status=http_status,
        transient=True,
    )


def server_error(code: int) -> GraphError:
    """A transient server failure, answered with HTTP 500 (``code`` 1 or 2)."""
    return GraphError(
        SERVER_ERRORS[code],
        code=code,
        user_title="Temporary Error",
        user_msg="Meta could not handle the request. Please retry later.",
        http_status=500,
        transient=True,
    )


def policy_block_error() -> GraphError:
    """Code 368: the action was blocked for policy reasons (not transient: a person must look)."""
    return GraphError(
        "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
        code=368,
        user_title="Action Blocked",
        user_msg="This action was blocked for policy reasons. Check the ad account's status in"
        " Meta's Business Support Home.",
    )


def token_error() -> GraphError:
    """The answer to a call without an access token."""
    return GraphError(
        "Invalid OAuth access token - Cannot parse access token",
        code=190,
        user_title="Access Token Missing",
        user_msg="Every call needs an access token (access_token parameter).",
    )


def version_error(version: str) -> GraphError:
    """The answer to a version other than :data:`GRAPH_VERSION`."""
    return GraphError(
        f"(#2635) Graph API version {version} is not available here: call {GRAPH_VERSION}.",
        code=2635,
        user_title="Unsupported API Version",
        user_msg=f"This server speaks Graph API {GRAPH_VERSION} only.",
    )


def unknown_path_error(path: str) -> GraphError:
    """The answer to a path that names no object or edge."""
    return GraphError(
        f"(#2500) Unknown path components: /{path}",
        code=2500,
        user_title="Unknown Path",
        user_msg=f"/{path} is not a Graph API path this server knows.",
    )


def nonexisting_edge_error(edge: str) -> GraphError:
    """The answer to an ad account edge the sandbox does not have."""
    return GraphError(
        f"(#100) Tried accessing nonexisting field ({edge}) on node type (AdAccount)",
        code=100,
        user_title="Invalid parameter",
        user_msg=f"Ad accounts have no edge {edge} here.",
    )
