"""Encryption of secrets at rest (TOTP secrets): Fernet under a rotatable list of keys.

The first key of ``TOTP_KEYS`` encrypts; every key decrypts, so a new key can be put
first, every stored secret re-encrypted (``flask twofactor rotate-key``), and the old
key dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

__all__ = ["InvalidToken", "box", "init_app", "new_key"]


def new_key() -> str:
    """A fresh Fernet key (urlsafe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode()


def make_box(keys: Sequence[str]) -> MultiFernet:
    """A MultiFernet over ``keys`` (the first encrypts); raises on a malformed key."""
    if isinstance(keys, str) or not keys:
        raise ValueError("TOTP_KEYS must be a non-empty list of Fernet keys")
    return MultiFernet([Fernet(k.encode()) for k in keys])


def init_app(app: Flask) -> None:
    """Check the configured keys once at start-up, so that a bad key fails early."""
    app.extensions["adgate.crypto"] = make_box(app.config["TOTP_KEYS"])


def box() -> MultiFernet:
    """The current app's MultiFernet."""
    fernet: MultiFernet = current_app.extensions["adgate.crypto"]
    return fernet


def encrypt(plaintext: str) -> str:
    """``plaintext`` encrypted and authenticated under the primary key."""
    return box().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext of ``token`` (any configured key); raises InvalidToken if tampered with."""
    return box().decrypt(token.encode()).decode()
