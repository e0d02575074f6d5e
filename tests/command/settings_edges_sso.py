"""The edges project with its login page on another host (an SSO)."""

from __future__ import annotations

from tests.command.settings_edges import *  # noqa: F403

LOGIN_URL = "https://sso.example.com/login/"
