from __future__ import annotations

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.command.no_such_urls_module"
