"""Meta's ads webhooks as the sandbox sends them (``POST /__sandbox__/webhooks`` subscribes a
URL): the ``ad_account`` object's ``in_process_ad_objects`` and ``with_issues_ad_objects``."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from typing import Any

import requests


class Webhooks:
    """Meta's ads webhooks as the sandbox sends them: signed with the app secret, each
    notification POSTed in a thread of its own to every subscribed URL."""

    def __init__(self, app_secret: str | None) -> None:
        self.app_secret = app_secret
        self.urls: list[str] = []
        self.delivered: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def subscribe(self, url: str) -> None:
        """Send notifications to ``url`` (an app's webhook endpoint)."""
        if not self.app_secret:
            raise ValueError("the sandbox signs webhooks with its app secret: start it with one")
        if not url.startswith(("http://", "https://")):
            raise ValueError("url must be http(s)")
        with self._lock:
            self.urls.append(url)

    def notify(self, account_id: str, field: str, object_id: str, value: dict[str, Any]) -> None:
        """One change of an ad object, as Meta's ``ad_account`` webhook reports it."""
        with self._lock:
            urls = list(self.urls)
        if not urls or not self.app_secret:
            return
        payload = {
            "object": "ad_account",
            "entry": [
                {
                    "id": account_id.removeprefix("act_"),
                    "time": int(time.time()),
                    "changes": [{"field": field, "value": {"id": object_id, **value}}],
                }
            ],
        }
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()
        for url in urls:
            threading.Thread(
                target=self._post, args=(url, body, signature), name="sandbox-webhook", daemon=True
            ).start()

    def _post(self, url: str, body: bytes, signature: str) -> None:
        try:
            answer = requests.post(
                url,
                data=body,
                headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
                timeout=5,
            )
            status: int | str = answer.status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        with self._lock:
            self.delivered.append({"url": url, "status": status, "bytes": len(body)})
