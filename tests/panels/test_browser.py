"""The panel in real headless Chromium, on the demo site under uvicorn and under runserver.

Open a page, open the panel: the verdict, the timeline and the onion show this request's
numbers, the same as a probe of the same page by ``manage.py async_audit``. Then pick an
earlier request in History: the panel shows that one. Screenshots: AA_SCREENSHOTS=docs.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.conftest import IN_CI, ROOT, free_port, serve
from tests.demo.conftest import MANAGE, demo_env, run_manage

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, Route

# The screenshots the README shows are refreshed with AA_SCREENSHOTS=docs; a test run
# must not rewrite tracked files, so by default they go to the pytest cache.
SHOTS = ROOT / os.environ.get("AA_SCREENSHOTS", ".pytest_cache/screenshots")
SHOTS.mkdir(parents=True, exist_ok=True)

pytestmark = [pytest.mark.server, pytest.mark.browser]
__all__ = ["demo_env"]  # the demo fixture, shared
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGE = "/db/sync/"
EARLIER = "/fanout/sync/"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail("chromium is missing: CI installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")
    try:
        import playwright.sync_api as playwright
    except ImportError:
        if IN_CI:
            pytest.fail("playwright is missing: CI installs the test extra")
        pytest.skip("playwright is not installed (pip install playwright); CI runs this test")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def toolbar_env(demo_env: dict[str, str]) -> dict[str, str]:
    # The servers import what this process imports (e.g. an older toolbar on PYTHONPATH).
    path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH", ""), str(ROOT)) if p)
    return {**demo_env, "DEMO_TOOLBAR": "1", "PYTHONPATH": path}


def _probe(env: dict[str, str], path: str) -> dict[str, object]:
    """The command's probe of the same page, without the toolbar."""
    out = run_manage(
        {**env, "DEMO_TOOLBAR": "0"},
        "async_audit",
        "--probe",
        path,
        "--format",
        "json",
        "--no-samples",
    )
    (probe,) = json.loads(out)["probes"]
    route = next(r for r in json.loads(out)["routes"] if r["route"] == probe["route"])
    return {**probe, "verdict": route["verdict"]}


def _open_panel(page: Page, url: str) -> Locator:
    page.goto(url)
    page.locator("#djDebug a.AsyncAuditPanel").click()
    panel = page.locator("#djDebug .aa-panel")
    panel.wait_for(timeout=60_000)
    return panel


class _HeldScript:
    """Holds history.js back until released, so Switch is first clicked without its handler.

    That race (a click before the module script has run) is what a loaded machine makes
    now and then; holding the script makes it happen on every run.
    """

    def __init__(self, page: Page) -> None:
        self.held: list[Route] = []
        self.released = False
        page.route("**/debug_toolbar/js/history.js*", self._hold)

    def _hold(self, route: Route) -> None:
        if self.released:
            route.continue_()
        else:
            self.held.append(route)

    def release(self) -> None:
        self.released = True
        for route in self.held:
            route.continue_()
        self.held.clear()


def _switch_history(page: Page, row: Locator, script: _HeldScript) -> None:
    """Click the row's Switch and wait until the toolbar shows that request.

    The History panel's history.js arrives as a module script after the panel renders; until
    it has run, Switch is a plain submit button in a GET form, and a click would navigate
    the page to the sidebar's JSON. Such clicks are held back here and Switch is clicked
    again until the toolbar's own handler has answered.
    """
    # composedPath: toolbar 8 keeps #djDebug in a shadow root, where e.target is its host.
    page.evaluate(
        """() => document.addEventListener('click', (e) => {
            if (e.composedPath().some((n) => n.classList?.contains('switchHistory'))) {
                e.preventDefault();
            }
        }, true)"""
    )
    from playwright.sync_api import expect

    button = row.locator("button.switchHistory")
    want = button.get_attribute("data-request-id")
    assert want, "the row's Switch names no request"
    deadline = time.monotonic() + 60
    while True:
        button.click()
        script.release()  # after the first click: that one had no handler to answer it
        try:
            # replaceToolbarState sets the id, then swaps every panel in the same task.
            expect(page.locator("#djDebug")).to_have_attribute(
                "data-request-id", want, timeout=3_000
            )
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def _check_page(browser: Browser, url: str, env: dict[str, str], server: str, shot: str) -> None:
    probe = _probe(env, PAGE)
    with httpx.Client(base_url=url, timeout=30.0, trust_env=False) as client:
        # An earlier request, to pick in History; and the Server-Timing entries.
        assert client.get(EARLIER).status_code == 200
        timing = client.get(PAGE).headers["Server-Timing"]
    for key in ("hops", "hop_ms", "io_ms", "blocking_ms"):
        assert f"AsyncAuditPanel_{key};dur=" in timing
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(60_000)  # a loaded CI machine: waits are for events, not speed
    page = context.new_page()
    script = _HeldScript(page)
    try:
        panel = _open_panel(page, url + PAGE)
        text = panel.inner_text()
        assert f"GET {PAGE}" in text
        light_colour = panel.evaluate("el => getComputedStyle(el).color")
        verdict = panel.locator("[data-verdict]").get_attribute("data-verdict")
        assert verdict == probe["verdict"], (verdict, probe)
        hops = int(
            panel.locator("[data-hops-without-toolbar]").get_attribute("data-hops-without-toolbar")
            or "-1"
        )
        if server == "asgi":
            # This request's hops without the toolbar are what the command's probe counts.
            assert hops == probe["hops"], (hops, probe)
        else:
            assert (
                f"would make\n{probe['hops']}" in text or f"would make {probe['hops']}" in text
            ), text
        # The timeline: a lane per thread, a bar per event, each with its text equivalent.
        bars = panel.locator("rect.aa-bar")
        assert bars.count() > 0
        assert "query" in (bars.first.get_attribute("aria-label") or "") or bars.count() > 1
        assert panel.locator("rect.aa-query").count() == 2  # the page's two queries
        # The onion: every member of the demo's MIDDLEWARE, the toolbar's outermost.
        rings = panel.locator(".onion .ring .mw")
        assert rings.first.inner_text() == "debug_toolbar.middleware.DebugToolbarMiddleware"
        assert rings.count() == 12
        # Lanes: the thread that ran the toolbar first. The demo's sync-only middleware makes
        # the toolbar run sync under ASGI too, in the handler's worker thread, so the view's
        # queries ran there, not on the loop.
        assert panel.locator(".aa-lane-labels div").first.inner_text() == "request thread"
        lanes = panel.locator("svg.aa-lanes > g")
        assert lanes.first.locator("rect.aa-query").count() == 2
        # Keyboard: a bar takes focus, and its text is there for a screen reader.
        bars.first.focus()
        assert bars.first.evaluate("el => el.getRootNode().activeElement === el")
        assert panel.locator("details.aa-timeline-text li").count() == bars.count()
        assert panel.locator("th[scope=col]").count() >= 6
        page.screenshot(path=str(SHOTS / shot), full_page=False)

        # History: switch to the earlier request; the panel now shows that one.
        page.locator("#djDebug a.HistoryPanel").click()
        row = page.locator("#djDebug #djdtHistoryRequests tr", has_text=EARLIER).first
        row.wait_for(timeout=60_000)
        _switch_history(page, row, script)
        page.locator("#djDebug a.AsyncAuditPanel").click()
        earlier = page.locator("#djDebug .aa-panel", has_text=f"GET {EARLIER}")
        earlier.wait_for(timeout=60_000)
        assert earlier.locator("[data-verdict]").get_attribute("data-verdict") == "async-candidate"
        assert earlier.locator("rect.aa-http").count() == 3  # the fan-out's three calls
    finally:
        context.close()
    # The toolbar's dark theme: the panel follows its colours.
    dark = browser.new_context(viewport={"width": 1280, "height": 1000}, color_scheme="dark")
    dark.set_default_timeout(60_000)
    try:
        page = dark.new_page()
        panel = _open_panel(page, url + PAGE)
        colour = panel.evaluate("el => getComputedStyle(el).color")
        assert colour != light_colour, colour
        if server == "asgi":
            page.screenshot(path=str(SHOTS / "panel-dark.png"))
    finally:
        dark.close()


def test_the_panel_shows_this_requests_story_under_uvicorn(
    browser: Browser, toolbar_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "demo_site.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning"]  # fmt: skip
    with serve(argv, port, toolbar_env, tmp_path / "uvicorn.log") as url:
        _check_page(browser, url, toolbar_env, "asgi", "panel-asgi.png")


def test_the_panel_shows_this_requests_story_under_runserver(
    browser: Browser, toolbar_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    argv = [sys.executable, str(MANAGE), "runserver", "--noreload", f"127.0.0.1:{port}"]
    with serve(argv, port, toolbar_env, tmp_path / "runserver.log") as url:
        _check_page(browser, url, toolbar_env, "wsgi", "panel-wsgi.png")
