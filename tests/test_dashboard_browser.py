"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against a running app."""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from proxbalance.api import create_app
from proxbalance.store.snapshots import save_snapshot
from tests.test_recommendations_api import imbalanced_snapshot

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REQUIRED = os.environ.get("PROXBALANCE_REQUIRE_SYSTEM_TESTS") == "1"


@pytest.fixture
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not os.path.exists(CHROMIUM):
        if REQUIRED:
            pytest.fail("chromium and playwright are required (PROXBALANCE_REQUIRE_SYSTEM_TESTS=1)")
        pytest.skip("chromium or playwright not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def served(settings, store):
    with store.engine.begin() as conn:
        save_snapshot(conn, imbalanced_snapshot())
    server = make_server("127.0.0.1", 0, create_app(settings, store), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_dashboard_shows_nodes_and_generates_a_plan(browser, served, admin_key):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(served + "/")
    page.wait_for_function("document.getElementById('health').textContent.includes('ok')")
    page.fill("#apikey", admin_key)
    page.click("#save")
    page.wait_for_selector("#nodes tbody tr:nth-child(3)")
    assert page.locator("#nodes tbody tr").count() == 3
    assert "pve1" in page.locator("#nodes tbody").inner_text()
    page.wait_for_function("document.getElementById('message').textContent.length > 0")  # second fetch
    assert "no recommendations generated yet" in page.locator("#message").inner_text()
    page.click("#generate")
    page.wait_for_selector("#recommendations tbody tr")
    rows = page.locator("#recommendations tbody tr")
    assert rows.count() >= 1
    assert "pve1" in rows.first.inner_text()  # moves leave the overloaded node
    assert "peak node load" in page.locator("#impact").inner_text()
    assert errors == []


def test_dashboard_reports_a_bad_key(browser, served):
    page = browser.new_page()
    page.goto(served + "/")
    page.fill("#apikey", "pb_not_a_key")
    page.click("#save")
    page.wait_for_function("document.getElementById('message').textContent.length > 0")
    assert "invalid or revoked" in page.locator("#message").inner_text()
    assert page.locator("#nodes tbody tr").count() == 0
