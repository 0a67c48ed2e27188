"""Time-based one-time passwords (RFC 6238): secrets, codes, verification with ±1 step.

pyotp generates the secrets and the codes; the verification window, the
constant-time comparison and the step that was matched (for replay protection,
which is the caller's job: see ``app.auth.twofactor``) are ours.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
# RFC 6238 §5.2 recommends at most one step of network delay / clock drift either way.
DRIFT_STEPS = 1
# 32 base32 characters = 160 bits, the HMAC-SHA1 block the RFC recommends.
SECRET_LENGTH = 32

Digest = Callable[..., Any]


def new_secret() -> str:
    """A random base32 secret of 160 bits."""
    return pyotp.random_base32(length=SECRET_LENGTH)


def time_step(at: datetime, step: int = STEP_SECONDS) -> int:
    """The RFC 6238 counter T for ``at``: whole steps since the Unix epoch."""
    return int(at.timestamp()) // step


def code_at(
    secret: str, counter: int, *, digits: int = DIGITS, digest: Digest = hashlib.sha1
) -> str:
    """The code for counter ``counter`` (HOTP of RFC 4226 over the time step)."""
    return pyotp.HOTP(secret, digits=digits, digest=digest).at(counter)


def verify(
    secret: str,
    code: str,
    at: datetime,
    *,
    digits: int = DIGITS,
    digest: Digest = hashlib.sha1,
    step: int = STEP_SECONDS,
    drift: int = DRIFT_STEPS,
) -> int | None:
    """The time step whose code ``code`` is, within ±``drift`` steps of ``at``; else None.

    Every step of the window is compared in constant time, so the answer's timing
    does not tell which step (if any) matched.
    """
    candidate = code.replace(" ", "")
    if len(candidate) != digits or not candidate.isdigit():
        return None
    now = time_step(at, step)
    matched = None
    for counter in range(now - drift, now + drift + 1):
        expected = code_at(secret, counter, digits=digits, digest=digest)
        if hmac.compare_digest(expected.encode(), candidate.encode()) and matched is None:
            matched = counter
    return matched


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/…`` URI that authenticator apps read from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str, title: str) -> str:
    """The URI as an inline SVG QR code (no external service, no inline style)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, title=title))
