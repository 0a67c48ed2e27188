"""Ed25519 signatures over checkpoints and export manifests.

The private key stays on the server (``AUDIT_SIGNING_KEY_FILE``); auditors keep the public
key, so they can check a checkpoint or a manifest offline, and a person who can rewrite the
database still cannot forge a signature for a rewritten chain.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

ALGORITHM = "ed25519"


def signed_bytes(payload: dict[str, Any]) -> bytes:
    """What is signed: the payload without its signature, as sorted compact JSON."""
    body = {k: v for k, v in payload.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(public: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: the start of its SHA-256."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    """The public key as PEM text."""
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True)
class Signer:
    """Signs with one private key."""

    private: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        """The id of the matching public key."""
        return key_id(self.private.public_key())

    def sign(self, payload: dict[str, Any]) -> dict[str, str]:
        """The signature block to store beside ``payload``."""
        value = self.private.sign(signed_bytes(payload))
        return {
            "algorithm": ALGORITHM,
            "key_id": self.key_id,
            "value": base64.b64encode(value).decode(),
        }


def load_signer(path: Path | None) -> Signer | None:
    """The signer for a PEM key file, or None when no file is configured."""
    if path is None:
        return None
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return Signer(key)


def load_public(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def check(payload: dict[str, Any], public: Ed25519PublicKey) -> str | None:
    """None when ``payload['signature']`` is valid for ``public``; else what is wrong."""
    signature = payload.get("signature")
    if not isinstance(signature, dict):
        return "not signed"
    if signature.get("algorithm") != ALGORITHM:
        return f"unknown signature algorithm {signature.get('algorithm')!r}"
    if signature.get("key_id") != key_id(public):
        return f"signed by key {signature.get('key_id')}, not by the key given ({key_id(public)})"
    try:
        public.verify(base64.b64decode(str(signature.get("value", ""))), signed_bytes(payload))
    except (InvalidSignature, ValueError):
        return "the signature does not match the content"
    return None


def generate(private_path: Path) -> Signer:
    """Create a key pair: the private key (mode 0600) and ``<name>.pub`` beside it."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    private_path.with_name(private_path.name + ".pub").write_text(public_pem(key.public_key()))
    return Signer(key)
