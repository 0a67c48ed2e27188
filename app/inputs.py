"""One set of input rules for the pages and the API: characters, lengths and shapes per field.

What a reviewer reads must be what is sent: text refuses control characters, bidi
controls and zero-width characters, which change or hide what a screen shows. Ids are
ASCII digits (``str.isdigit()`` and ``int()`` also take other scripts' digits). The table
``FIELDS`` gives each field its kind and length; the WTForms forms (``Checked``) and the
API's models (``api_field``, ``api_check``) both read it, so both accept and refuse the
same values. The request guards refuse a NUL anywhere (no database stores it, PostgreSQL
fails on it), bodies above ``MAX_CONTENT_LENGTH`` (image uploads excepted) and JSON nested
too deep to parse safely.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from pydantic import Field
from pydantic_core import PydanticCustomError
from wtforms.validators import ValidationError

# JSON deeper than this is refused before it is parsed (the parser recurses per level).
MAX_JSON_DEPTH = 32
# The pages whose forms and the API operations whose bodies may carry an ad image.
UPLOAD_ENDPOINTS = frozenset({"checklists.create", "checklists.edit", "api.upload_image"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Kind(StrEnum):
    """What a field holds, which decides the characters it takes."""

    LINE = "line"  # one line of text
    TEXT = "text"  # several lines: line breaks and tabs too
    ID = "id"  # ASCII digits, with a prefix where Meta has one
    EMAIL = "email"
    URL = "url"
    COUNTRY = "country"
    PASSWORD = "password"  # noqa: S105  (a kind of field) anything but NUL: never shown


# Characters that change how text reads without showing themselves: every format
# character (Unicode's category Cf, up to Unicode 15.1: bidi controls and marks, zero-width
# characters, the soft hyphen, invisible operators, the tag characters …; a test holds the
# list to the interpreter's Unicode data) and the blank fillers and joiners of other
# categories that show nothing either.
_INVISIBLE = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f"
    "\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0"
)
_LINE_BREAKS = "\n\r\u2028\u2029"
# Control characters (C0 but tab and line breaks, DEL, C1) and lone surrogates.
_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff"
_REFUSED = {
    Kind.TEXT: re.compile(f"[{_CONTROL}{_INVISIBLE}\u2028\u2029]"),
    Kind.PASSWORD: re.compile("\x00"),
}
_REFUSED_IN_LINE = re.compile(f"[{_CONTROL}{_INVISIBLE}\t{_LINE_BREAKS}]")


@dataclass(frozen=True)
class Problem:
    """Why a value is refused: a stable ``code`` and a message for people."""

    code: str
    message: LazyString


def characters(value: str, kind: Kind) -> Problem | None:
    """The first character ``kind`` does not take, as a problem; None when all are fine.

    A zero-width joiner between two pictographs is taken: it joins them into one emoji
    (a family, a flag, a profession), which every screen shows as such, and ads use them.
    """
    refused = _REFUSED.get(kind, _REFUSED_IN_LINE)
    found = next((m for m in refused.finditer(value) if not _joins_emoji(value, m.start())), None)
    if found is None:
        return None
    char, position = found.group(), found.start() + 1
    point = f"U+{ord(char):04X}"
    if char == "\x00":
        return Problem(
            "nul_character",
            _l("Remove the NUL character at position %(position)d.", position=position),
        )
    if char in "\n\r\u2028\u2029" and kind is not Kind.TEXT:
        return Problem(
            "line_break",
            _l(
                "This field takes one line: remove the line break at position %(position)d.",
                position=position,
            ),
        )
    if "\ud800" <= char <= "\udfff":
        return Problem("invalid_unicode", _l("The text is not valid Unicode."))
    if re.fullmatch(f"[{_INVISIBLE}\u2028\u2029]", char):
        return Problem(
            "invisible_character",
            _l(
                "Remove the invisible character %(char)s at position %(position)d: it can make "
                "the text read differently from what is sent.",
                char=point,
                position=position,
            ),
        )
    return Problem(
        "control_character",
        _l(
            "Remove the control character %(char)s at position %(position)d.",
            char=point,
            position=position,
        ),
    )


def _joins_emoji(value: str, at: int) -> bool:
    """Whether ``value[at]`` is a zero-width joiner between two parts of an emoji."""
    if value[at] != "\u200d" or at == 0 or at + 1 >= len(value):
        return False
    return _emoji_part(value[at - 1]) and _emoji_part(value[at + 1])


def _emoji_part(char: str) -> bool:
    # Pictographs are "So"; skin tones are "Sk"; U+FE0F asks for the emoji form of the one
    # before it.
    return char == "\ufe0f" or unicodedata.category(char) in ("So", "Sk")


@dataclass(frozen=True)
class Rule:
    """A field's kind, its length in characters and, for shaped values, a pattern.

    The pattern is matched whole, in ASCII terms (``[0-9]``, never ``\\d``), so that
    Python here and the JSON schema's readers agree on it.
    """

    kind: Kind
    max: int
    min: int = 0
    pattern: str | None = None
    mismatch: LazyString | None = None

    @property
    def anchored(self) -> str | None:
        """The pattern as the OpenAPI document gives it."""
        return f"^(?:{self.pattern})$" if self.pattern else None

    def problem(self, value: str) -> Problem | None:
        """Why ``value`` does not fit, or None (emptiness is the form's or model's to judge)."""
        if len(value) > self.max:
            return Problem("too_long", _l("At most %(max)d characters.", max=self.max))
        if len(value) < self.min:
            return Problem("too_short", _l("At least %(min)d characters.", min=self.min))
        found = characters(value, self.kind)
        if found is not None:
            return found
        if self.pattern and not re.fullmatch(self.pattern, value):
            assert self.mismatch is not None
            return Problem("invalid_format", self.mismatch)
        return None


_ONE_LINE_EMAIL = r"[^\s@]+@[^\s@]+"
_EMAIL_MESSAGE = _l("An e-mail address such as name@example.org.")
# Every field with user text, by the name the forms and the API's models know it.
FIELDS: dict[str, Rule] = {
    # the ad
    "title": Rule(Kind.LINE, 200),
    "page_id": Rule(
        Kind.ID,
        30,
        pattern="[0-9]{1,30}",
        mismatch=_l("A page id consists of the digits 0 to 9."),
    ),
    "ad_account_id": Rule(
        Kind.ID,
        32,
        pattern="act_[0-9]{1,28}",
        mismatch=_l("An ad account id looks like act_1234."),
    ),
    "headline": Rule(Kind.LINE, 255),
    "message": Rule(Kind.TEXT, 5000),
    "link_url": Rule(
        Kind.URL,
        2048,
        pattern=r"https?://[^\s]+",
        mismatch=_l("The link must start with https:// or http:// and contain no spaces."),
    ),
    # the page's form takes the countries as one line ("CH, LI"), the API as a list
    "countries": Rule(Kind.LINE, 255),
    "country": Rule(Kind.COUNTRY, 2, pattern="[A-Za-z]{2}", mismatch=_l("Two letters, e.g. CH.")),
    "paid_for_by": Rule(Kind.LINE, 255),
    "dsa_payor": Rule(Kind.LINE, 255),
    "dsa_beneficiary": Rule(Kind.LINE, 255),
    "justification": Rule(Kind.TEXT, 2000),
    # the review conversation: a comment, or the reason of a change request
    "comment": Rule(Kind.TEXT, 4000),
    # people and sign-in
    "email": Rule(Kind.EMAIL, 254, pattern=_ONE_LINE_EMAIL, mismatch=_EMAIL_MESSAGE),
    # what someone signs in with is looked up, not checked for shape
    "login_email": Rule(Kind.LINE, 254),
    "password": Rule(Kind.PASSWORD, 128),
    "code": Rule(Kind.LINE, 64),
    # ad accounts and what Meta authorized
    "ad_account_name": Rule(Kind.LINE, 200),
    "disclaimer": Rule(Kind.LINE, 255),
    "evidence": Rule(Kind.TEXT, 2000, min=3),
    "reason": Rule(Kind.TEXT, 2000),
    # API tokens
    "token_name": Rule(Kind.LINE, 100),
    # the audit log's filter
    "audit_actor": Rule(
        Kind.LINE,
        255,
        pattern=r"(user|token|system|anonymous)(:[A-Za-z0-9_.:-]{1,64})?|[^\s@]{1,64}@[^\s@]{1,190}",
        mismatch=_l("An e-mail address, or user:5, token:3, system."),
    ),
    "audit_kind": Rule(
        Kind.LINE,
        65,
        pattern=r"[a-z][a-z0-9_.]{0,63}\*?",
        mismatch=_l("An event name such as checklist.submit or checklist.*"),
    ),
}


def valid(name: str, value: str) -> bool:
    """Whether ``value`` fits the rule of field ``name`` (for services and the command line)."""
    return FIELDS[name].problem(value) is None


# --- WTForms -------------------------------------------------------------------


class Checked:
    """WTForms validator: the field's rule from ``FIELDS`` (an empty value is left to
    DataRequired, as a field without it may be empty)."""

    def __init__(self, name: str) -> None:
        self.rule = FIELDS[name]
        self.field_flags = {"maxlength": self.rule.max}
        if self.rule.min:
            self.field_flags["minlength"] = self.rule.min

    def __call__(self, form: Any, field: Any) -> None:
        if isinstance(field.data, str) and field.data:
            problem = self.rule.problem(field.data)
            if problem is not None:
                raise ValidationError(str(problem.message))


# --- the API's models ----------------------------------------------------------


def api_field(name: str, **kwargs: Any) -> Any:
    """The pydantic ``Field`` of ``name``: its lengths and pattern, for the OpenAPI document.

    The pattern is only documented here; ``api_check`` applies it with a clear message.
    """
    rule = FIELDS[name]
    extra: dict[str, Any] | None = {"pattern": rule.anchored} if rule.anchored else None
    kwargs.setdefault("min_length", rule.min or None)
    return Field(max_length=rule.max, json_schema_extra=extra, **kwargs)


def api_check(name: str) -> Callable[[str], str]:
    """A pydantic after-validator applying the rule of ``name`` (the API speaks English)."""
    rule = FIELDS[name]

    def check(value: str) -> str:
        problem = rule.problem(value)
        if problem is not None:
            with force_locale("en"):
                message = str(problem.message)
            raise PydanticCustomError(problem.code, message)
        return value

    return check


# --- request guards --------------------------------------------------------------

NUL_MESSAGE = _l(
    "The request contains a NUL character, which adgate does not accept. Remove it and try again."
)


def nul_in(data: Any, path: str = "") -> str | None:
    """Where a NUL sits in parsed JSON or a form (a dotted path, "" for the top), or None."""
    if isinstance(data, str):
        return path if "\x00" in data else None
    if isinstance(data, Mapping):
        items: Iterable[tuple[Any, Any]] = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return None
    for key, value in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and "\x00" in key:
            return where
        found = nul_in(value, where)
        if found is not None:
            return found
    return None


def form_nul() -> str | None:
    """The query parameter, form field or file name of this request holding a NUL ("path"
    for the URL's path, whose parts views take as ids), or None."""
    if "\x00" in request.path:
        return "path"
    for key, value in request.args.items(multi=True):
        if "\x00" in key or "\x00" in value:
            return key
    if request.method not in BODY_METHODS:
        return None
    for key, value in request.form.items(multi=True):
        if "\x00" in key or "\x00" in value:
            return key
    for key, upload in request.files.items(multi=True):
        if "\x00" in key or "\x00" in (upload.filename or ""):
            return key
    return None


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def json_too_deep(data: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects deeper than ``limit`` (not parsed)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for byte in _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", raw)):
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return True
    return False


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing text nested too deep as invalid rather than recursing into it."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if json_too_deep(s):
            raise ValueError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
        return super().loads(s, **kwargs)


def upload_limit(config: Mapping[str, Any]) -> int:
    """The body an image upload may have: the image in base64, and the rest of the form."""
    return (int(config["IMAGE_MAX_BYTES"]) + 2) // 3 * 4 + int(config["MAX_CONTENT_LENGTH"])


def _limit_body() -> None:
    # Only a request that can carry the image gets the larger limit: a plain form to the
    # same page keeps MAX_CONTENT_LENGTH.
    if request.endpoint in UPLOAD_ENDPOINTS and (
        request.blueprint == "api" or request.mimetype == "multipart/form-data"
    ):
        request.max_content_length = upload_limit(current_app.config)


def _refuse_nul() -> tuple[str, int] | None:
    # The API answers with a problem document naming the field (app.api's guard).
    if request.blueprint == "api" or (request.endpoint or "").endswith("static"):
        return None
    if form_nul() is None:
        return None
    from app.errors import render_error

    return render_error(400, str(NUL_MESSAGE))


def init_app(app: Flask) -> None:
    """Install the JSON provider and the guards; call before anything reads the body
    (CSRF protection does)."""
    app.json = JSONProvider(app)
    app.before_request(_limit_body)
    app.before_request(_refuse_nul)
