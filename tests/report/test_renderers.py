"""Renderers on a fixed report document (a real probe run, saved): golden files for text and
Markdown, and the HTML report looked at in headless Chromium.

Regenerate the golden files after an intended change: AA_UPDATE_GOLDEN=1 pytest tests/report
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from async_audit.report import Palette, render
from async_audit.report.html import SEGMENTS
from tests.conftest import IN_CI, ROOT

HERE = Path(__file__).parent
REPORT = json.loads((HERE / "report.json").read_text())
UPDATE = os.environ.get("AA_UPDATE_GOLDEN") == "1"


def _golden(name: str, text: str) -> None:
    path = HERE / "golden" / name
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; if intended, AA_UPDATE_GOLDEN=1"


def test_text_report_matches_golden():
    _golden("report.txt", render(REPORT, "text"))


def test_markdown_report_matches_golden():
    _golden("report.md", render(REPORT, "markdown"))


def test_text_report_opens_with_what_to_fix_and_convert_first():
    lines = render(REPORT, "text").splitlines()
    assert lines[3].startswith("FIX FIRST (3 errors)")
    convert = lines.index(next(line for line in lines if line.startswith("CONVERT FIRST")))
    assert "fanout/" in lines[convert + 3]


def test_counts_read_as_english_and_markdown_asks_for_evidence_when_there_is_none():
    import copy

    one = copy.deepcopy(REPORT)
    one["summary"]["findings"].update(error=1, warning=1)
    assert "FINDINGS (1 error, 1 warning, " in render(one, "text")
    assert "**1 error, 1 warning, " in render(one, "markdown")
    html = render(one, "html")
    assert ">1 error<" in html and ">1 warning<" in html
    bare = copy.deepcopy(REPORT)
    bare["summary"].update(convert_first=[], probes=0, samples=0)
    md = render(bare, "markdown")
    assert "No runtime evidence yet" in md and "No async candidate on this evidence" not in md


def test_colour_only_when_a_palette_paints():
    plain = render(REPORT, "text")
    assert "\x1b[" not in plain
    painted = render(REPORT, "text", Palette(error=lambda s: f"\x1b[31m{s}\x1b[0m"))
    assert "\x1b[31mAA301\x1b[0m" in painted


def test_html_report_is_self_contained():
    html = render(REPORT, "html")
    # No script, and nothing fetched from elsewhere: no link, no src/href to a URL, no CSS url().
    assert "<script" not in html and "<link" not in html and "url(" not in html
    assert re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html) is None
    assert html.count('class="ring ') == len(REPORT["middleware"])
    assert html.count('class="bar-row"') == len(REPORT["routes"])


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_report_shows_its_charts_in_headless_chromium(tmp_path):
    browser = _chromium()
    if browser is None:
        if IN_CI:
            pytest.fail("chromium is missing: CI installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")
    from PIL import Image

    page = tmp_path / "report.html"
    page.write_text(render(REPORT, "html"))
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1280,2200",
         f"--screenshot={shot}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    image = Image.open(shot).convert("RGB")
    colours = {c for _, c in image.getcolors(maxcolors=1 << 20) or []}

    def shown(hex_colour: str) -> bool:
        r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        return any(abs(r - x) + abs(g - y) + abs(b - z) < 12 for x, y, z in colours)

    segment = dict((k, c) for k, _, c in SEGMENTS)
    # The bars: outbound HTTP of the fan-out route, CPU of every route; the onion's rings.
    assert shown(segment["http"]) and shown(segment["cpu"])
    assert shown("#27ae60") and shown("#e67e22")  # async ring green, sync ring orange
    docs = ROOT / "docs"
    if UPDATE:
        docs.mkdir(exist_ok=True)
        shutil.copy(shot, docs / "report.png")
