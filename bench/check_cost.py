"""What installing the app adds to ``manage.py check`` (and so to every migrate and runserver).

    python bench/check_cost.py [--routes 50 500 2000] [--rounds 7]

Runs ``manage.py check`` as a user does, one process per run, on generated projects with many
routes (``bench/static_audit.py``'s: function and class-based views, half of them async, a
quarter of those with a blocking call or sync ORM use) and on the demo site. Each project is checked in three settings:
without ``async_audit`` in ``INSTALLED_APPS``, with it (the default, errors-only check), and
with ``ASYNC_AUDIT = {"CHECKS": "all"}`` (every finding, the cross-check of the chain). Runs
are interleaved round by round so load on the machine hits every variant alike. The table
gives medians of CPU time (user + system of the ``check`` process, less sensitive to a
shared machine's load than wall time) and of wall time, the app's share (with - without)
and the ratio, and the CPU spent inside the app's own check functions, timed in the same
process (importing the app is not in that last figure), all from one run. Bytecode is compiled in a warm-up round (to a cache folder
of its own), as ``pip install`` does; each ``check`` is bounded to 120 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from static_audit import _write_project  # noqa: E402  (a sibling script, not a package)

VARIANTS = ("without app", "with app", 'with app, CHECKS "all"')

_BENCH_SETTINGS = """\
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench"
ROOT_URLCONF = "benchsite.urls"
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
"""


# Runs `manage.py check` with the app's own check functions timed (CPU), in the same process:
# a figure the machine's load barely moves, unlike a difference of two whole-process times.
_RUNNER = """\
import functools, sys, time

import django
from django.core.checks.registry import registry
from django.core.management import execute_from_command_line

django.setup()
spent = 0.0


def timed(check):
    @functools.wraps(check)
    def run(*args, **kwargs):
        global spent
        started = time.process_time()
        try:
            return check(*args, **kwargs)
        finally:
            spent += time.process_time() - started

    run.tags = check.tags
    return run


for checks in (registry.registered_checks, registry.deployment_checks):
    for check in [c for c in checks if c.__module__.startswith("async_audit")]:
        checks.discard(check)
        checks.add(timed(check))
try:
    execute_from_command_line(["manage.py", *sys.argv[1:]])
finally:
    sys.stderr.write(f"\\nAPP_CHECKS_CPU_MS={spent * 1000:.3f}\\n")
"""


def _variants(folder: Path, base: str, package: str) -> dict[str, str]:
    """Settings modules (in ``package`` under ``folder``) for the three variants of ``base``."""
    (folder / package).mkdir(exist_ok=True)
    (folder / package / "__init__.py").touch()
    with_app = (
        "INSTALLED_APPS = [*(a for a in INSTALLED_APPS if a != 'async_audit'), 'async_audit']\n"
    )
    bodies = {
        "without app": "INSTALLED_APPS = [a for a in INSTALLED_APPS if a != 'async_audit']\n",
        "with app": with_app,
        'with app, CHECKS "all"': with_app + "ASYNC_AUDIT = {'CHECKS': 'all'}\n",
    }
    modules = {}
    for n, (variant, body) in enumerate(bodies.items()):
        (folder / package / f"v{n}.py").write_text(f"from {base} import *  # noqa\n\n{body}")
        modules[variant] = f"{package}.v{n}"
    return modules


def _check_ms(
    runner: Path, settings: str, pythonpath: list[str], env: dict[str, str]
) -> tuple[float, float, float]:
    """(wall ms, CPU ms: user + system, CPU ms in the app's own checks) of one ``check``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(runner), "check"],
        env={**env, "PYTHONPATH": os.pathsep.join(pythonpath), "DJANGO_SETTINGS_MODULE": settings},
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if "System check identified" not in result.stdout + result.stderr:
        raise SystemExit(f"check failed for {settings}:\n{result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    own = float(result.stderr.rpartition("APP_CHECKS_CPU_MS=")[2].split()[0])
    return elapsed, cpu, own


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, nargs="+", default=[50, 500, 2000])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env["DEMO_SQLITE_PATH"] = str(folder / "demo.sqlite3")
        # As after a pip install (which compiles bytecode): no variant pays for compiling
        # its modules. Kept out of the source trees; the warm-up round writes it.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        projects = {}
        for routes in args.routes:
            # One folder per size: every generated project names its package "benchsite".
            root = folder / f"routes{routes}"
            root.mkdir()
            _write_project(root, routes)
            (root / "benchsite" / "settings.py").write_text(_BENCH_SETTINGS)
            projects[f"generated, {routes} routes"] = (
                _variants(root, "benchsite.settings", "bench_variants"),
                [str(root), str(ROOT)],
            )
        projects["demo_site"] = (
            _variants(folder, "demo_site.settings", "demo_variants"),
            [str(folder), str(ROOT)],
        )
        runner = folder / "run_check.py"
        runner.write_text(_RUNNER)
        runs: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for modules, pythonpath in projects.values():
            for variant in VARIANTS:
                # Warm-up, not counted: bytecode, the disk cache.
                _check_ms(runner, modules[variant], pythonpath, env)
        started = time.perf_counter()
        for _ in range(args.rounds):
            for project, (modules, pythonpath) in projects.items():
                for variant in VARIANTS:
                    run = _check_ms(runner, modules[variant], pythonpath, env)
                    runs.setdefault((project, variant), []).append(run)
        total_s = time.perf_counter() - started

    print(
        f"manage.py check: medians of {args.rounds} interleaved rounds, one process per run "
        f"(Python {platform.python_version()}, Django {django.get_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, {total_s:.0f} s in all)"
    )
    print(
        f"{'project':<24} {'variant':<24} {'CPU ms':>8} {'+ CPU ms':>9} {'x base':>7}"
        f" {'wall ms':>8} {'+ wall ms':>10} {'x base':>7} {'app checks CPU ms':>18}"
    )
    for project in projects:

        def median(variant: str, i: int, project: str = project) -> float:
            return statistics.median(run[i] for run in runs[(project, variant)])

        base_wall, base_cpu = median(VARIANTS[0], 0), median(VARIANTS[0], 1)
        for variant in VARIANTS:
            w, c, own = median(variant, 0), median(variant, 1), median(variant, 2)
            first = variant == VARIANTS[0]
            extra_cpu = "" if first else f"{c - base_cpu:+.1f}"
            extra_wall = "" if first else f"{w - base_wall:+.1f}"
            print(
                f"{project:<24} {variant:<24} {c:8.1f} {extra_cpu:>9} {c / base_cpu:7.3f}"
                f" {w:8.1f} {extra_wall:>10} {w / base_wall:7.3f} {own:18.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
