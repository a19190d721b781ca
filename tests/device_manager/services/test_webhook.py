"""The webhook notifier against a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from device_manager.db.models import AlertEvent
from device_manager.services.alerts import Notification
from device_manager.services.notifier import WebhookNotifier
from device_manager.snmp.poller import PollResult, Problem
from tests.device_manager.dm_helpers import create, device, site


class Receiver:
    """Records every POST; answers with the next status of ``plan`` (then 200)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.plan: list[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = outer.plan.pop(0) if outer.plan else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/hall"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _headers, body in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


NOTE = Notification("alert.opened", {"id": 7, "kind": "paper_out", "message": "printer-1: paper out"}, 7)


async def test_retries_server_errors_then_delivers_signed_json(receiver):
    receiver.plan = [500, 503]
    notifier = WebhookNotifier([receiver.url], secret="hook-secret", retries=3, backoff_s=0.01)
    (delivery,) = await notifier.send([NOTE])
    assert delivery.ok and delivery.attempts == 3
    assert len(receiver.requests) == 3
    headers, body = receiver.requests[-1]
    payload = json.loads(body)
    assert payload["event"] == "alert.opened" and payload["alert"]["kind"] == "paper_out"
    assert headers["content-type"] == "application/json"
    expected = hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
    assert headers["x-hallcloud-signature"] == f"sha256={expected}"
    assert "hook-secret" not in repr(notifier)


async def test_client_errors_are_not_retried_and_give_up_after_retries(receiver):
    receiver.plan = [400]
    notifier = WebhookNotifier([receiver.url], retries=3, backoff_s=0.01)
    (rejected,) = await notifier.send([NOTE])
    assert not rejected.ok and rejected.attempts == 1 and rejected.detail == "HTTP 400"
    receiver.plan = [500, 500, 500]
    (failed,) = await WebhookNotifier([receiver.url], retries=2, backoff_s=0.01).send([NOTE])
    assert not failed.ok and failed.attempts == 3 and len(receiver.requests) == 4
    (unreachable,) = await WebhookNotifier(["http://127.0.0.1:9/none"], retries=1, backoff_s=0.01).send(
        [NOTE]
    )
    assert not unreachable.ok and unreachable.attempts == 2 and "ConnectError" in unreachable.detail


async def test_poll_cycle_alerts_reach_the_webhook(make_settings, receiver):
    import httpx

    from device_manager.main import create_app
    from tests.device_manager.dm_helpers import Api

    app = create_app(make_settings(webhook_urls=[receiver.url], webhook_retries=1), run_background=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hall.test"
    ) as client:
        api = Api(app, client)
        h = api.headers("admin")
        hall = await site(client, h)
        await create(client, h, "credential-profiles", kind="snmp_v2c", name="v2c", community="public")
        pid = (await device(client, h, hall["id"]))["id"]
        polling = app.state.polling
        await polling.notify(
            polling.store_results(
                [PollResult(pid, "degraded", problems=[Problem("paper_out", "tray 1 empty")])]
            )
        )
        await polling.notify(polling.store_results([PollResult(pid, "up")]))
        bodies = receiver.bodies()
        assert [b["event"] for b in bodies] == ["alert.opened", "alert.resolved"]
        assert bodies[0]["alert"]["device"] == {
            "name": "printer-1",
            "address": "10.20.0.5",
            "site_id": hall["id"],
            "device_type": "printer",
        }
        # acknowledging through the API notifies too (after the response)
        receiver.requests.clear()
        await polling.notify(
            polling.store_results([PollResult(pid, "degraded", problems=[Problem("jam", "jam")])])
        )
        alert_id = receiver.bodies()[0]["alert"]["id"]
        ack = await client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=api.headers("operator"))
        assert ack.status_code == 200
        assert [b["event"] for b in receiver.bodies()] == ["alert.opened", "alert.acknowledged"]
        with app.state.session_factory() as db:
            kinds = [e.kind for e in db.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id))]
        assert kinds == ["opened", "notified", "acknowledged", "notified"]
    app.state.engine.dispose()
