"""The IT dashboard in headless Chromium against a live device manager polling a real snmpd.

Sign in with an API token, see the hall map; stop the kiosk's SNMP agent and watch its tile turn red
over SSE without a reload; acknowledge the alert; device list filters, a detail page with charts, and
the English translation.
"""

from __future__ import annotations

import time

import httpx
import pytest

from device_manager.i18n import catalog
from vdi.seats import Seat, SeatDirectory

pytestmark = pytest.mark.integration
API = "/api/v1"


def post(client: httpx.Client, path: str, **body):
    response = client.post(f"{API}/{path}", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def hall(serve, own_snmpd):
    seats = SeatDirectory(
        [Seat("w1", gov="hc-w-absent-gov", internet="hc-w-absent-net", site="north-hall", window=1)]
    )
    server = serve(state={"seats": seats}, polling_enabled=True, poll_interval_s=1.0)
    server.app.state.polling.timeout_s, server.app.state.polling.retries = 0.5, 0
    admin = server.token("admin")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}) as client:
        site = post(client, "sites", name="城北行政服务中心", slug="north-hall")
        area = post(client, "areas", site_id=site["id"], name="一楼综合受理区", floor="1")
        window = post(
            client,
            "windows",
            site_id=site["id"],
            area_id=area["id"],
            number=1,
            name="综合受理",
            services=["企业开办"],
        )
        cred = post(client, "credential-profiles", kind="snmp_v2c", name="v2c", community=own_snmpd.community)
        kiosk = post(
            client,
            "devices",
            name="kiosk-1",
            site_id=site["id"],
            area_id=area["id"],
            device_type="kiosk",
            address=own_snmpd.host,
            snmp_port=own_snmpd.port,
            snmp_credential_id=cred["id"],
        )
        post(
            client,
            "devices",
            name="tc-w1",
            site_id=site["id"],
            window_id=window["id"],
            device_type="thin_client",
            address="10.20.1.11",
        )
        post(
            client,
            "devices",
            name="printer-w1",
            site_id=site["id"],
            window_id=window["id"],
            device_type="printer",
            address="10.20.1.21",
        )
        rules = client.get(f"{API}/alert-rules").json()["results"]
        down = next(r for r in rules if r["kind"] == "device_down")
        assert client.patch(f"{API}/alert-rules/{down['id']}", json={"raise_after": 1}).status_code == 200
        wait_until(lambda: client.get(f"{API}/devices/{kiosk['id']}").json()["oper_status"] == "up")
    return server, kiosk["id"], window["id"]


def test_catalogs_have_the_same_keys():
    assert set(catalog("zh-CN")) == set(catalog("en"))


def test_wrong_token_is_refused_on_the_login_form(serve, page):
    server = serve()
    page.goto(f"{server.url}/ui/")
    page.fill("#api-token", "hct_nope_nope")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-error:not([hidden])")
    assert page.locator("#nav").is_hidden()


def test_map_turns_red_live_when_the_agent_stops_and_the_alert_is_acknowledged(
    hall,
    page,
    own_snmpd,
    artifacts_dir,
):
    server, kiosk, window = hall
    token = server.token("it_staff")
    page.goto(f"{server.url}/ui/")
    assert page.locator("h1").inner_text() == catalog("zh-CN")["app.title"]  # Chinese by default
    page.fill("#api-token", token)
    page.click("#login-form button[type=submit]")
    try:
        page.wait_for_selector("#hall-map")
    except Exception:  # say what the page shows and what the server answers
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
            answer = client.get("/ui/api/overview", timeout=60)
        print("page body:", page.inner_text("body")[:500])
        print("overview:", answer.status_code, answer.text[:500])
        raise
    page.wait_for_selector("#live[data-live=on]")
    page.wait_for_selector(f"#tile-device-{kiosk}[data-status=ok]")
    tile = page.locator(f"#tile-window-{window}")
    assert "综合受理" in tile.inner_text() and "瘦客户端 tc-w1" in tile.inner_text()
    assert tile.locator("li[data-desktop=gov] .st").get_attribute("data-s") == "missing"
    page.screenshot(path=str(artifacts_dir / "dashboard-map-ok.png"), full_page=True)
    with page.expect_popup() as opened:  # IT staff open the window's seat page with a fresh seat token
        tile.locator("button.open-seat").click()
    seat_page = opened.value
    seat_page.wait_for_selector("#pane-gov")  # the seat page itself, not the token form
    assert seat_page.url.endswith("/seat/w1")  # the token left the address bar
    seat_page.close()

    page.evaluate("window.__noReload = true")
    stopped = time.monotonic()
    own_snmpd.stop()
    page.wait_for_selector(f"#tile-device-{kiosk}[data-status=down]")
    red_after_s = time.monotonic() - stopped
    assert page.evaluate("window.__noReload === true")  # updated in place, no reload
    assert page.locator("#alert-count").inner_text() == "1"
    page.screenshot(path=str(artifacts_dir / "dashboard-map-down.png"), full_page=True)

    page.click("#nav a[data-view=alerts]")
    row = page.locator(f"#alert-table tr[data-device='{kiosk}']")
    assert row.get_attribute("data-status") == "firing"
    page.screenshot(path=str(artifacts_dir / "dashboard-alerts-firing.png"), full_page=True)
    row.locator("button.ack").click()
    page.wait_for_selector(f"#alert-table tr[data-device='{kiosk}'][data-status=acknowledged]")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
        (alert,) = client.get(f"{API}/alerts", params={"device_id": kiosk}).json()["results"]
    assert alert["status"] == "acknowledged" and alert["acknowledged_by"].startswith("web-it_staff")
    page.screenshot(path=str(artifacts_dir / "dashboard-alerts-acknowledged.png"), full_page=True)

    page.goto(f"{server.url}/ui/#/devices?oper_status=down")
    page.wait_for_selector("#device-table")
    names = page.locator("#device-table tbody tr td:first-child").all_inner_texts()
    assert names == ["kiosk-1"]
    page.click("#device-table a")
    page.wait_for_selector("#device-detail")
    assert page.locator("#device-detail .chart svg polyline").count() >= 1  # metric history charts
    page.screenshot(path=str(artifacts_dir / "dashboard-device-detail.png"), full_page=True)

    page.select_option("#lang-select", "en")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.click("#nav a[data-view=map]")
    page.wait_for_selector("#hall-map")
    assert page.locator("#nav a[data-view=map]").inner_text() == "Hall map"
    own_snmpd.start()
    page.wait_for_selector(f"#tile-device-{kiosk}[data-status=ok]")
    page.screenshot(path=str(artifacts_dir / "dashboard-map-en-recovered.png"), full_page=True)
    print(f"tile red {red_after_s:.1f} s after the agent stopped (poll interval 1 s)")


def test_jobs_panel_follows_a_job_log_live(serve, page, artifacts_dir):
    from device_manager.db.job_models import Job, JobLogLine

    server = serve()
    with server.app.state.session_factory() as db:
        job = Job(
            kind="playbook", title="窗口 3 瘦客户端配置", status="running", progress=0.5, step="thin_client"
        )
        db.add(job)
        db.flush()
        db.add_all(
            [
                JobLogLine(job_id=job.id, seq=1, text="PLAY [thin clients]"),
                JobLogLine(job_id=job.id, seq=2, text="TASK [set kiosk URL] ok"),
            ]
        )
        db.commit()
        job_id = job.id
    page.goto(f"{server.url}/ui/")
    page.fill("#api-token", server.token("it_staff"))
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#hall-map")
    assert page.locator("#nav-jobs").is_visible()  # the jobs API exists, so the panel shows
    page.click("#nav-jobs")
    page.wait_for_selector(f"#job-table tr[data-job='{job_id}']")
    page.click(f"#job-table tr[data-job='{job_id}'] a")
    page.wait_for_function(
        "document.querySelector('#job-log')?.textContent.includes('TASK [set kiosk URL] ok')"
    )
    with server.app.state.session_factory() as db:
        db.add(JobLogLine(job_id=job_id, seq=3, text="PLAY RECAP ok=2 failed=0"))
        db.get(Job, job_id).status = "succeeded"
        db.commit()
    page.wait_for_function("document.querySelector('#job-log').textContent.includes('PLAY RECAP ok=2')")
    page.wait_for_selector("#job-status[data-status=succeeded]")
    page.screenshot(path=str(artifacts_dir / "dashboard-job-log.png"), full_page=True)
