"""``manage.py async_audit``: the static audit, probes and stored samples, as one report.

Exit status: 0 on success, 1 when ``--fail-on LEVEL`` finds a finding at LEVEL or above,
2 on bad usage (flags, an unknown route, an unknown --probe-user, a URLconf that does not
import, an unreachable database) with one line on stderr.
"""

from __future__ import annotations

import math
import re
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import Resolver404, get_resolver, resolve

from async_audit import conf
from async_audit.findings import SEVERITIES, route_label
from async_audit.report import FORMATS, Palette, build_report, max_severity, render
from async_audit.verdicts import Thresholds
from async_audit.verdicts.capacity import Arrivals, CapacityOptions
from async_audit.verdicts.measured import route_matches

if TYPE_CHECKING:
    from async_audit.sampling.read import Stored

_SINCE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _usage(message: str) -> CommandError:
    return CommandError(message, returncode=2)


def parse_since(value: str) -> timedelta:
    match = _SINCE.match(value.strip())
    if not match:
        raise _usage(f"--since {value!r}: expected a number and a unit, e.g. 30m, 12h, 7d, 2w")
    try:
        age = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        datetime.now() - age  # the cut-off must be a date
    except OverflowError:
        raise _usage(f"--since {value!r}: too far back (at most a few thousand years)") from None
    return age


def _check_urlconf() -> None:
    """Probes need the URLconf: one that does not import is bad usage, not a traceback."""
    resolver = get_resolver()
    try:
        resolver.url_patterns  # noqa: B018 (imports ROOT_URLCONF)
    except Exception as exc:
        raise _usage(
            f"ROOT_URLCONF {resolver.urlconf_name!r} could not be imported: {type(exc).__name__}: "
            + (str(exc).strip().splitlines() or [""])[0]
        ) from exc


def parse_traffic(value: str, known_routes: list[str]) -> tuple[str, float]:
    """``'api/items/=120'`` -> ``('api/items/', 120.0)``; the glob must match a URL pattern."""
    glob, sep, rate_text = value.rpartition("=")
    try:
        rate = float(rate_text)
    except ValueError:
        rate = math.nan
    if not sep or not math.isfinite(rate) or rate < 0:
        raise _usage(
            f"--traffic {value!r}: expected ROUTE=REQUESTS_PER_SECOND, e.g. 'api/items/=120'"
        )
    if not any(route_matches(r, glob) for r in known_routes):
        raise _usage(f"--traffic {value!r}: no URL pattern matches {glob!r}")
    return glob, rate


def _path_of(route: str) -> str | None:
    """A URL path for a route that takes no arguments (regex routes: if they are literal)."""
    path = route.removeprefix("^").removesuffix("$").replace("\\/", "/").replace("\\.", ".")
    if re.search(r"[\\()\[\]{}*+?|^$<>]", path):
        return None
    return "/" + path


class Command(BaseCommand):
    help = (
        "Audit how this project behaves under ASGI: the middleware chain, every view, probes "
        "through the real ASGI application and stored samples, ranked into what to fix and what "
        "to convert first."
    )
    # The system checks would run the static audit a second time and print it to stderr.
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def error(message: str) -> None:
            # One line, exit 2, whether run from the shell or from call_command().
            if parser.called_from_command_line:
                sys.stderr.write(f"{prog_name} {subcommand}: error: {message} (see --help)\n")
                sys.exit(2)
            raise _usage(message)

        parser.error = error  # type: ignore[method-assign]
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--format", choices=FORMATS, default="text", help="output format (default: text)"
        )
        parser.add_argument(
            "--output", metavar="FILE", help="write the report to FILE instead of stdout"
        )
        parser.add_argument(
            "--probe",
            metavar="PATH",
            action="append",
            default=[],
            help="GET PATH through the ASGI app, traced (repeatable)",
        )
        parser.add_argument(
            "--probe-all",
            action="store_true",
            help="probe every URL pattern that takes no arguments",
        )
        parser.add_argument(
            "--probe-user",
            metavar="USERNAME",
            help="probe logged in as this user (a session for the run, deleted after it)",
        )
        parser.add_argument(
            "--follow",
            action="store_true",
            help="follow a redirect the view did not make (APPEND_SLASH, a locale) once, within the site",
        )
        parser.add_argument("--no-samples", action="store_true", help="do not read stored samples")
        parser.add_argument(
            "--since", metavar="AGE", help="only samples newer than AGE (30m, 12h, 7d, 2w)"
        )
        parser.add_argument(
            "--route",
            metavar="PATTERN",
            help="only this route (a glob over route patterns, e.g. 'api/*')",
        )
        parser.add_argument(
            "--fail-on", choices=SEVERITIES, help="exit 1 when a finding is at this level or above"
        )
        parser.add_argument(
            "--allow-network",
            action="store_true",
            help="let probed views connect beyond this machine",
        )
        parser.add_argument("--samples-file", metavar="FILE", help="read samples from this JSON Lines file (ASYNC_AUDIT['SAMPLE_FILE'] sink) instead of the database")  # fmt: skip
        parser.add_argument("--prune", action="store_true", help="delete stored samples older than RETENTION_DAYS (in bounded batches) and exit")  # fmt: skip
        parser.add_argument("--sample-token", metavar="PATH", help="print a header that forces the sampling middleware to sample PATH for 5 minutes, and exit")  # fmt: skip
        parser.add_argument(
            "--traffic",
            metavar="ROUTE=RPS",
            action="append",
            default=[],
            help="capacity plan: requests per second for each route matching the glob ROUTE "
            "(repeatable; overrides the rate read from samples)",
        )
        parser.add_argument(
            "--convert",
            metavar="ROUTE",
            action="append",
            default=None,
            help="capacity plan what-if: convert the sync routes matching this glob "
            "(repeatable; default: the routes the report advises converting)",
        )
        parser.add_argument("--database", metavar="ALIAS", help="database alias holding the samples (default: ASYNC_AUDIT['SAMPLE_DB_ALIAS'])")  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        if options["prune"] or options["sample_token"]:
            self._sampling_chores(options)
            return
        since = parse_since(options["since"]) if options["since"] else None
        from async_audit.inventory import audit_static

        static = audit_static().to_dict()
        route_glob: str | None = options["route"]
        if route_glob is not None:
            known = [v["route"] for v in static["views"]]
            if not any(route_matches(r, route_glob) for r in known):
                raise _usage(
                    f"--route {route_glob!r}: no URL pattern matches (try one of: {', '.join(route_label(r) for r in known[:5])} ...)"
                )
        if options["probe_user"] is not None and not (options["probe"] or options["probe_all"]):
            raise _usage("--probe-user needs --probe PATH or --probe-all")
        known_routes = [v["route"] for v in static["views"]]
        traffic = [parse_traffic(value, known_routes) for value in options["traffic"]]
        convert: list[str] | None = options["convert"]
        for glob in convert or ():
            if not any(route_matches(r, glob) for r in known_routes):
                raise _usage(f"--convert {glob!r}: no URL pattern matches")
        notes: list[str] = []
        paths = self._probe_paths(options["probe"], options["probe_all"], static, route_glob, notes)

        probes = []
        if paths:
            from async_audit.probe import ProbeError, run_probes

            try:
                probes = run_probes(
                    paths,
                    allow_network=options["allow_network"],
                    progress=self._progress(len(paths)),
                    user=options["probe_user"],
                    follow=options["follow"],
                    notes=notes,
                )
            except ProbeError as exc:
                raise _usage(str(exc)) from exc
            finally:
                self._end_progress()

        from async_audit.sampling.aggregate import Reservoir

        # A samples file streams into a reservoir per route (memory bounded by routes, not
        # samples), every sample still counting towards the arrival rates. The database is
        # read through read_stored instead, whose figures replace these in build_report.
        kept = Reservoir()
        capacity = CapacityOptions.from_settings(traffic=traffic, convert=convert)
        arrivals = Arrivals(capacity.interval_s)

        def take(trace: dict[str, Any]) -> None:
            arrivals.add(trace)
            kept.add(trace)

        sampling: dict[str, Any] | None = None
        stored: Stored | None = None
        if options["samples_file"] and not options["no_samples"]:
            from async_audit.sampling.health import read_file

            try:
                _, sample_notes, sampling = read_file(
                    options["samples_file"], since=since, route_glob=route_glob, on_trace=take
                )
            except OSError as exc:
                raise _usage(
                    f"--samples-file {options['samples_file']}: {exc.strerror or exc}"
                ) from exc
            notes.extend(sample_notes)
        elif not options["no_samples"]:
            from async_audit.sampling.health import read_health_db
            from async_audit.sampling.read import read_stored
            from async_audit.verdicts import route_key

            alias = options["database"] or conf.get("SAMPLE_DB_ALIAS")
            # Figures from columns in the database; full traces only for the verdicts.
            stored = read_stored(
                alias,
                since=since,
                route_glob=route_glob,
                interval_s=capacity.interval_s,
                merge={route_key(p.trace) for p in probes if p.trace is not None},
                progress=self._sample_progress if sys.stderr.isatty() else None,
            )
            self._end_progress()
            notes.extend(stored.notes)
            sampling = read_health_db(alias, since)

        samples = kept.traces()
        report = build_report(
            static,
            probes,
            samples,
            Thresholds.from_settings(),
            notes,
            sampling=sampling,
            samples_not_kept=kept.not_kept(),
            capacity=capacity,
            arrivals=arrivals,
            stored=stored,
        )
        if route_glob is not None:
            _filter_report(report, route_glob)
        self._write(report, options["format"], options["output"])
        self._gate(report, options["fail_on"])

    # -- parts ---------------------------------------------------------------------------

    def _sampling_chores(self, options: dict[str, Any]) -> None:
        if options["sample_token"]:
            from async_audit.sampling.decide import FORCE_HEADER, force_token

            path = options["sample_token"]
            if not path.startswith("/"):
                raise _usage(f"--sample-token {path!r}: give a path starting with '/'")
            self.stdout.write(f"{FORCE_HEADER}: {force_token(path)}")
        if options["prune"]:
            from async_audit.models import Sample
            from async_audit.sampling.sinks import prune_samples

            alias = options["database"] or conf.get("SAMPLE_DB_ALIAS")
            days = int(conf.get("RETENTION_DAYS"))
            try:
                deleted = prune_samples(alias, days)
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise _usage(
                    f"--prune: cannot prune {Sample._meta.db_table} in {alias!r}: {first}"
                ) from exc
            self.stdout.write(f"pruned {deleted} sample(s) older than {days} day(s) from {alias!r}")

    def _probe_paths(
        self,
        explicit: list[str],
        probe_all: bool,
        static: dict[str, Any],
        route_glob: str | None,
        notes: list[str],
    ) -> list[str]:
        paths: list[str] = []
        for path in explicit:
            if not path.startswith("/"):
                raise _usage(f"--probe {path!r}: give a path starting with '/', e.g. /api/items/")
            # Not checked against the resolver: the application answers paths no pattern
            # matches (a locale prefix, APPEND_SLASH); the probe reports what it answered.
            paths.append(path)
        if explicit or probe_all:
            _check_urlconf()
        if probe_all:
            for v in static["views"]:
                if v.get("takes_args") or (
                    route_glob is not None and not route_matches(v["route"], route_glob)
                ):
                    continue
                found = _path_of(v["route"])
                if found is None:
                    notes.append(f"--probe-all skipped {v['route']!r}: not a literal path")
                    continue
                try:
                    resolve(found)
                except Resolver404:
                    notes.append(f"--probe-all skipped {v['route']!r}: {found} does not resolve")
                    continue
                if found not in paths:
                    paths.append(found)
        return paths

    def _progress(self, total: int) -> Any:
        if total < 2 or not sys.stderr.isatty():
            return None

        def show(i: int, n: int, path: str) -> None:
            sys.stderr.write(f"\r\033[Kprobing {i + 1}/{n} {path}")
            sys.stderr.flush()

        return show

    def _sample_progress(self, n: int) -> None:
        sys.stderr.write(f"\r\033[Kreading stored samples: {n}")
        sys.stderr.flush()

    def _end_progress(self) -> None:
        """Clear the progress line (a no-op line clear when none was shown)."""
        if sys.stderr.isatty():
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()

    def _write(self, report: dict[str, Any], fmt: str, output: str | None) -> None:
        if output:
            text = render(report, fmt)
            try:
                with open(output, "w", encoding="utf-8") as f:
                    f.write(text)
            except OSError as exc:
                raise _usage(f"--output {output}: {exc.strerror or exc}") from exc
            return
        s = self.style
        palette = Palette(
            error=s.ERROR,
            warning=s.WARNING,
            info=s.HTTP_INFO,
            heading=s.MIGRATE_HEADING,
            good=s.SUCCESS,
            dim=s.HTTP_NOT_MODIFIED,
        )
        self.stdout.write(render(report, fmt, palette), ending="")

    def _gate(self, report: dict[str, Any], fail_on: str | None) -> None:
        if fail_on is None:
            return
        worst = max_severity(report["findings"])
        if worst is not None and SEVERITIES.index(worst) >= SEVERITIES.index(fail_on):
            n = sum(
                SEVERITIES.index(f["severity"]) >= SEVERITIES.index(fail_on)
                for f in report["findings"]
            )
            raise CommandError(
                f"{n} finding(s) at {fail_on} level or above (--fail-on {fail_on})", returncode=1
            )


def _filter_report(report: dict[str, Any], route_glob: str) -> None:
    """Keep view-level entries of the matching routes; project-wide findings stay."""

    def keep(entry: dict[str, Any]) -> bool:
        route = entry.get("route")
        return route is None or route_matches(route, route_glob)

    for key in ("views", "routes", "probes", "findings"):
        report[key] = [e for e in report[key] if keep(e)]
    summary = report["summary"]
    summary["fix_first"] = [f for f in summary["fix_first"] if keep(f)]
    summary["convert_first"] = [r for r in summary["convert_first"] if keep(r)]
    summary["findings"] = {
        s: sum(f["severity"] == s for f in report["findings"]) for s in SEVERITIES
    }
    summary["max_severity"] = max_severity(report["findings"])
