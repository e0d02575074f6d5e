"""Project helpers that async views call: the scan follows them."""

from __future__ import annotations

import requests
from django.contrib.auth.models import User


async def fetch_remote() -> None:
    requests.get("http://127.0.0.1:9/", timeout=0.01)


def count_users() -> int:
    return User.objects.count()


def slow_report() -> None:
    # Only ever run through sync_to_async: must not be flagged.
    requests.get("http://127.0.0.1:9/", timeout=0.01)
