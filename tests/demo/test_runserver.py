"""The demo under ``manage.py runserver`` (WSGI), as a new user starts it."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from tests.demo.conftest import MANAGE, free_port, serve

pytestmark = pytest.mark.server


def test_runserver_serves_the_index_the_assets_and_the_upstream(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    argv = [sys.executable, str(MANAGE), "runserver", "--noreload", f"127.0.0.1:{port}"]
    with (
        serve(argv, port, demo_env, tmp_path / "runserver.log") as url,
        httpx.Client(base_url=url, timeout=30.0, trust_env=False) as client,
    ):
        index = client.get("/")
        assert index.status_code == 200
        assert "django-async-audit demo" in index.text
        assert client.get("/static/demo/demo.css").status_code == 200
        # The upstream starts inside the runserver process too.
        fanout = client.get("/fanout/sync/")
        assert fanout.status_code == 200
        assert [r["name"] for r in fanout.json()["results"]] == [
            "inventory",
            "pricing",
            "shipping",
        ]
