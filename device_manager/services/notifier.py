"""Webhook notifier: POSTs each alert notification as JSON to every configured URL, with retries.

Connection errors, timeouts, 429 and 5xx are retried with exponential backoff; any other 4xx is final
(the receiver rejected the payload, retrying will not help). With a secret, the body is signed:
``X-HallCloud-Signature: sha256=<hex HMAC of the body>``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from device_manager.services.alerts import Notification

__all__ = ["Delivery", "WebhookNotifier"]

log = logging.getLogger(__name__)


@dataclass
class Delivery:
    url: str
    event: str
    alert_id: int
    ok: bool
    attempts: int
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "event": self.event,
            "alert_id": self.alert_id,
            "ok": self.ok,
            "attempts": self.attempts,
            "detail": self.detail,
        }


class WebhookNotifier:
    def __init__(
        self,
        urls: Sequence[str],
        *,
        secret: str | None = None,
        retries: int = 3,
        timeout_s: float = 5.0,
        backoff_s: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.urls = list(urls)
        self._secret = secret
        self.retries = retries
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self._transport = transport

    def __repr__(self) -> str:
        return f"WebhookNotifier(urls={len(self.urls)}, retries={self.retries})"

    def body(self, note: Notification) -> bytes:
        payload = {
            "event": note.event,
            "sent_at": dt.datetime.now(dt.UTC).isoformat(),
            "alert": note.alert,
            **note.extra,
        }
        return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()

    async def send(self, notes: Sequence[Notification]) -> list[Delivery]:
        if not self.urls or not notes:
            return []
        async with httpx.AsyncClient(timeout=self.timeout_s, transport=self._transport) as client:
            jobs = [self._deliver(client, url, note) for note in notes for url in self.urls]
            return list(await asyncio.gather(*jobs))

    async def _deliver(self, client: httpx.AsyncClient, url: str, note: Notification) -> Delivery:
        body = self.body(note)
        headers = {"Content-Type": "application/json", "User-Agent": "hallcloud-device-manager"}
        if self._secret:
            digest = hmac.new(self._secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-HallCloud-Signature"] = f"sha256={digest}"
        detail = ""
        for attempt in range(1, self.retries + 2):
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                detail = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return Delivery(
                        url, note.event, note.alert_id, True, attempt, f"HTTP {response.status_code}"
                    )
                detail = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    break
            if attempt <= self.retries:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        log.warning(
            "webhook %s for alert %s to %s failed after %d attempt(s): %s",
            note.event,
            note.alert_id,
            url,
            attempt,
            detail,
        )
        return Delivery(url, note.event, note.alert_id, False, attempt, detail)
