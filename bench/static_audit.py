"""How long the static audit takes on a generated project with many routes.

    .venvs/py311-dj52/bin/python bench/static_audit.py [--routes 2000] [--repeat 5]

Writes a throwaway project (apps of 50 routes each: function and class-based views, sync and
async, a quarter of the async ones calling a blocking API or the sync ORM, nested includes
with namespaces) into a temporary folder, then times ``audit_static()`` cold (first call:
imports the URLconf and parses sources) and warm, and each part on its own.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_PER_APP = 50

_VIEWS = """\
from __future__ import annotations

import time

from django.contrib.auth.models import User
from django.http import HttpResponse
from django.views import View


def helper_{i}():
    return User.objects.count()

"""


def _write_project(root: Path, routes: int) -> None:
    package = root / "benchsite"
    package.mkdir()
    (package / "__init__.py").write_text("")
    apps = max(1, routes // _PER_APP)
    includes = []
    for app in range(apps):
        views = [_VIEWS.format(i=app)]
        patterns = []
        for n in range(_PER_APP):
            kind = n % 4
            name = f"v{n}"
            if kind == 0:
                views.append(f"def {name}(request, pk=0):\n    return HttpResponse('x')\n")
            elif kind == 1:
                body = "    time.sleep(0)\n" if n % 8 == 1 else f"    helper_{app}()\n"
                views.append(
                    f"async def {name}(request, pk=0):\n{body}    return HttpResponse('x')\n"
                )
            elif kind == 2:
                views.append(
                    f"class {name}(View):\n    def get(self, request, pk=0):\n"
                    "        return HttpResponse('x')\n"
                )
            else:
                views.append(
                    f"class {name}(View):\n    async def get(self, request, pk=0):\n"
                    "        return HttpResponse('x')\n"
                )
            view = f"views.{name}.as_view()" if kind >= 2 else f"views.{name}"
            route = f"item/{n}/<int:pk>/" if n % 3 == 0 else f"page/{n}/"
            patterns.append(f"    path({route!r}, {view}, name={name!r}),")
        app_dir = package / f"app{app}"
        app_dir.mkdir()
        (app_dir / "__init__.py").write_text("")
        (app_dir / "views.py").write_text("\n\n".join(views))
        (app_dir / "urls.py").write_text(
            "from django.urls import path\n\nfrom . import views\n\n"
            f"app_name = 'app{app}'\n\nurlpatterns = [\n" + "\n".join(patterns) + "\n]\n"
        )
        includes.append(f"    path('app{app}/', include('benchsite.app{app}.urls')),")
    (package / "urls.py").write_text(
        "from django.urls import include, path\n\nurlpatterns = [\n" + "\n".join(includes) + "\n]\n"
    )


def _configure(root: Path) -> None:
    from django.conf import settings

    settings.configure(
        BASE_DIR=root,
        SECRET_KEY="bench",
        ROOT_URLCONF="benchsite.urls",
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
        ],
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        ASGI_APPLICATION="benchsite.asgi.application",
    )
    import django

    django.setup()


def _time(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    runs = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        _write_project(root, args.routes)
        generated_ms = (time.perf_counter() - started) * 1000
        sys.path.insert(0, str(root))
        _configure(root)

        from async_audit.inventory import audit_static
        from async_audit.inventory.chain import analyse_chain
        from async_audit.inventory.scan import scan_views
        from async_audit.inventory.views import inventory_views

        started = time.perf_counter()
        audit = audit_static()
        cold_ms = (time.perf_counter() - started) * 1000
        warm_ms, _ = _time(audit_static, args.repeat)
        no_scan_ms, _ = _time(lambda: audit_static(scan=False), args.repeat)
        chain_ms, _ = _time(analyse_chain, args.repeat)
        views_ms, inventory = _time(inventory_views, args.repeat)
        scan_ms, _ = _time(lambda: scan_views(inventory.views), args.repeat)

        codes: dict[str, int] = {}
        for finding in audit.findings:
            codes[finding.code] = codes.get(finding.code, 0) + 1
        print(
            textwrap.dedent(
                f"""\
                static audit on a generated project
                  routes               {len(audit.views)} ({sum(v.is_async for v in audit.views)} async)
                  findings             {dict(sorted(codes.items()))}
                  errors               {audit.errors}
                  generate project     {generated_ms:8.1f} ms
                  audit_static cold    {cold_ms:8.1f} ms  (imports the URLconf, parses sources)
                  audit_static warm    {warm_ms:8.1f} ms  (median of {args.repeat})
                  without source scan  {no_scan_ms:8.1f} ms
                  chain analysis       {chain_ms:8.1f} ms
                  URL inventory        {views_ms:8.1f} ms
                  source scan          {scan_ms:8.1f} ms"""
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
