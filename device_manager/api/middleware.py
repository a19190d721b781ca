"""Pure ASGI middleware: rate limiting (429 + Retry-After), request body size (413) and the audit of
writes. Order, outermost first: rate limit -> body limit -> audit -> app."""

from __future__ import annotations

import json
from typing import Any

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from device_manager.core.ratelimit import TokenBuckets, retry_after_header
from device_manager.core.security import split_token
from device_manager.services import audit

__all__ = ["WRITE_METHODS", "AuditMiddleware", "BodySizeLimitMiddleware", "RateLimitMiddleware"]

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


async def _json_response(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, general: TokenBuckets, auth_failures: TokenBuckets) -> None:
        self.app = app
        self.general = general
        self.auth_failures = auth_failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ip = _client(scope)
        wait = self.auth_failures.peek(ip)
        reason = "too many failed authentications from this address"
        if wait == 0.0:
            auth = _header(scope, b"authorization") or ""
            parts = split_token(auth.partition(" ")[2].strip())
            key = f"token:{parts[0]}" if parts else f"ip:{ip}"
            wait = self.general.take(key)
            reason = "rate limit exceeded"
        if wait > 0.0:
            await _json_response(
                send,
                429,
                {"detail": f"{reason}; retry later"},
                [(b"retry-after", retry_after_header(wait).encode())],
            )
            return
        await self.app(scope, receive, send)


class BodySizeLimitMiddleware:
    """Rejects bodies over ``max_bytes`` with 413, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        too_large = {"detail": f"request body larger than {self.max_bytes} bytes"}
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _json_response(send, 413, too_large, [])
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _json_response(send, 413, too_large, [])
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class AuditMiddleware:
    """Records every write under the API prefix with its outcome. Failed authentications are recorded
    by the auth dependency itself (it knows why); the entry here is then skipped."""

    def __init__(self, app: ASGIApp, session_factory: Any, prefix: str) -> None:
        self.app = app
        self.session_factory = session_factory
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in WRITE_METHODS
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if not state.get("audit_recorded"):
                await anyio.to_thread.run_sync(
                    lambda: audit.record(
                        self.session_factory,
                        principal=state.get("principal"),
                        action=scope["method"],
                        path=scope["path"],
                        status_code=status,
                        client=_client(scope),
                        detail=str(state.get("audit_detail", "")),
                    )
                )
