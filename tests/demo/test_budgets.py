"""demo_site's own budget tests (``demo_site/shop/tests``), run as a team runs them: pytest with
the demo's settings, in a subprocess."""

from __future__ import annotations

import subprocess
import sys

from tests.budget.test_plugin import PLUGIN, plugin_installed
from tests.conftest import ROOT


def _run_demo_tests(env: dict[str, str], settings: str) -> subprocess.CompletedProcess[str]:
    plugin = [] if plugin_installed() else ["-p", PLUGIN]
    # fmt: off
    return subprocess.run(
        [sys.executable, "-m", "pytest", "demo_site/shop/tests", *plugin, "--ds", settings,
         "-p", "no:cacheprovider", "-q", "-rA"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # fmt: on


def test_the_demo_twins_keep_their_budgets_at_their_real_hop_counts(demo_env):
    proc = _run_demo_tests(demo_env, "demo_site.settings")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 passed" in proc.stdout


def test_a_new_sync_only_middleware_breaks_the_budgets_and_is_named(demo_env):
    proc = _run_demo_tests(demo_env, "tests.demo.settings_sync_only")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "5 failed" in out
    assert "  hops: 6, budget exactly 8" in out
    assert (
        "sync mode forced by tests.demo.legacy.LegacyAuditMiddleware (sync-only, AA101): "
        "Django switches async->sync around it; it drags 1 member(s) outside it into sync "
        "mode: demo_site.shop.middleware.RequestIdMiddleware"
    ) in out
    # The marked test fails the same way, as a whole test.
    assert "@pytest.mark.async_budget: async budget exceeded by 1 of 1 request(s)" in out
    # The project's own lines, as the developer finds them from the project root.
    assert "at demo_site/shop/views/paired.py:" in out
