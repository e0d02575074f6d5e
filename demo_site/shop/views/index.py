from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from demo_site.shop.cases import CASES, GROUPS, PROJECT_FINDINGS
from demo_site.shop.pairs import PAIRS


def index(request: HttpRequest) -> HttpResponse:
    """The demo's home page: every case, what to look for, and the finding to expect."""
    groups = [
        {"title": title, "cases": [case for case in CASES if case.group == key]}
        for key, title in GROUPS.items()
    ]
    context = {"groups": groups, "project_findings": PROJECT_FINDINGS, "pairs": PAIRS}
    return render(request, "demo/index.html", context)
