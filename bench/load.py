"""What async_audit costs a real server under load: throughput and CPU per request.

    python bench/load.py [--rounds 5] [--duration 4] [--connections 16] [--quick]

Each variant is served by its own uvicorn process (one worker, 127.0.0.1, access log off)
over the demo project (``bench.settings_load``: demo_site with DEBUG off), and loaded with
wrk (Debian package ``wrk``; without it, a Python httpx client with the same number of
connections, which competes with the server for CPU) for a warm-up and then a measured
window per path. Measured per path and variant:

  req/s        requests completed / window
  CPU ms/req   the server process's utime+stime (/proc/<pid>/stat, all its threads: event
               loop, sync-view threads, the demo's loopback upstream) over the window,
               divided by the requests completed in it
  p50 ms       median latency as the load generator saw it (closed loop, so mostly queueing)
  srv CPU      server CPU time / wall time: near 100 % means the server was the bottleneck

Each round starts one server per variant (all at once; the idle ones cost next to nothing),
then measures path after path, the variants back to back in an order rotated per path and
per round, so that machine noise hits them alike and each comparison is seconds apart.
Figures are medians over rounds; ratios to ``no-audit`` are paired within a round. Adding a
variant (sampling at 10 %, another owner of traces) is one ``Variant`` entry in
``VARIANTS``; the ones in ``EXTRA_VARIANTS`` run with ``--variants``. Then
bench/trace_costs.py prints the per-event costs, in a subprocess (it configures Django with
the test settings).

Progress goes to stderr; stdout is the report, ready to paste.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata, util
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Variant:
    """One server configuration: a ``bench/_load_asgi.py`` factory, settings, environment."""

    name: str
    factory: str  # module:callable, served with ``uvicorn --factory``
    what: str
    settings: str = "bench.settings_load"
    env: Mapping[str, str] = field(default_factory=dict)


BASELINE = "no-audit"
VARIANTS: list[Variant] = [
    Variant(
        BASELINE,
        "bench._load_asgi:plain",
        "async_audit not in INSTALLED_APPS, no instruments",
        settings="bench.settings_load_noaudit",
    ),
    Variant(
        "installed-idle",
        "bench._load_asgi:idle",
        "app installed + instruments.install(), nothing traced",
    ),
    Variant(
        "traced",
        "bench._load_asgi:traced",
        "every request traced (TracedASGIApp), trace.to_dict() called and discarded",
    ),
]
EXTRA_VARIANTS: list[Variant] = [
    Variant(
        "installed",
        "bench._load_asgi:plain",
        "app installed, no instruments (tells the app's cost from the instruments')",
    ),
    Variant(
        "traced-no-export",
        "bench._load_asgi:traced",
        "every request traced, trace dropped without to_dict()",
        env={"BENCH_TRACE_EXPORT": "0"},
    ),
    Variant(
        "traced-10%",
        "bench._load_asgi:traced",
        "10 % of requests traced (TracedASGIApp should_trace), to_dict()",
        env={"BENCH_TRACE_RATE": "0.1"},
    ),
    Variant(
        "traced-1%",
        "bench._load_asgi:traced",
        "1 % of requests traced (TracedASGIApp should_trace), to_dict()",
        env={"BENCH_TRACE_RATE": "0.01"},
    ),
    Variant(
        "sampling-0",
        "bench._load_asgi:plain",
        "SamplingMiddleware first, rate 0 (nothing traced until a forced sample)",
        settings="bench.settings_load_sampling",
        env={"BENCH_SAMPLE_RATE": "0"},
    ),
    Variant(
        "sampling-1%",
        "bench._load_asgi:plain",
        "SamplingMiddleware first, 1 % of requests traced and stored in the database",
        settings="bench.settings_load_sampling",
        env={"BENCH_SAMPLE_RATE": "0.01"},
    ),
    Variant(
        "sampling-100%",
        "bench._load_asgi:plain",
        "SamplingMiddleware first, every request traced and stored in the database",
        settings="bench.settings_load_sampling",
        env={"BENCH_SAMPLE_RATE": "1.0"},
    ),
    Variant(
        "silk-1%",
        "bench._load_asgi:plain",
        "django-silk's middleware, 1 % of requests recorded (SILKY_INTERCEPT_PERCENT=1)",
        settings="bench.settings_load_silk",
        env={"SILK_PERCENT": "1"},
    ),
    Variant(
        "silk-100%",
        "bench._load_asgi:plain",
        "django-silk's middleware, every request recorded (silk's default)",
        settings="bench.settings_load_silk",
        env={"SILK_PERCENT": "100"},
    ),
]

# Cheap enough pages that the server, not a sleep, limits throughput (see demo_site/shop/
# cases.py): a template-heavy sync view, the DB pair (sync ORM in a thread vs async ORM
# hops), and an async view awaiting one 50 ms loopback upstream call. /cpu/sync/ (~50 ms of
# pure Python per request) runs at ~15 req/s and hides any overhead: pass it with --paths.
PATHS = ["/", "/db/sync/", "/db/async/", "/good/async/"]

# wrk prints its summary through this script; percentiles are in microseconds.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    errors: int  # socket errors, timeouts and responses >= 400
    p50_ms: float


@dataclass(frozen=True)
class Sample:
    rps: float
    cpu_ms: float  # server CPU per request
    p50_ms: float
    util: float  # server CPU seconds / wall seconds
    errors: int


# -- load generators -------------------------------------------------------------------------


class Wrk:
    label = "wrk"

    def __init__(self, script: Path) -> None:
        self.script = script

    def run(self, url: str, connections: int, seconds: int) -> LoadResult:
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
        out = subprocess.run(
            [*cmd, "-s", str(self.script), url], capture_output=True, text=True, check=False
        )
        for line in out.stdout.splitlines():
            if line.startswith("BENCH "):
                data = json.loads(line[6:])
                return LoadResult(
                    requests=data["requests"],
                    seconds=data["duration_us"] / 1e6,
                    errors=data["errors"],
                    p50_ms=data["p50_us"] / 1000,
                )
        raise RuntimeError(f"wrk failed (rc {out.returncode}): {out.stdout}{out.stderr}")


class PythonClient:
    """A closed loop of ``connections`` workers sharing one httpx.AsyncClient."""

    label = "python httpx client"

    def run(self, url: str, connections: int, seconds: int) -> LoadResult:
        return asyncio.run(self._run(url, connections, seconds))

    @staticmethod
    async def _run(url: str, connections: int, seconds: int) -> LoadResult:
        import httpx

        latencies: list[float] = []
        errors = 0
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        # trust_env=False: never route through a proxy from the environment, loopback only.
        async with httpx.AsyncClient(limits=limits, timeout=10.0, trust_env=False) as client:
            start = time.perf_counter()
            deadline = start + seconds

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    sent = time.perf_counter()
                    try:
                        response = await client.get(url)
                    except httpx.HTTPError:
                        errors += 1
                        continue
                    latencies.append(time.perf_counter() - sent)
                    errors += response.status_code >= 400

            await asyncio.gather(*(worker() for _ in range(connections)))
            took = time.perf_counter() - start
        p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
        return LoadResult(len(latencies), took, errors, p50)


LoadGenerator = Wrk | PythonClient


# -- the server ------------------------------------------------------------------------------

_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get_status(url: str) -> int:
    try:
        with _no_proxy.open(url, timeout=10) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Server:
    """One uvicorn process serving one variant, started at once, ready after ``wait_ready``."""

    def __init__(self, variant: Variant, tmp: Path, db_path: Path, tag: str) -> None:
        self.variant = variant
        self.port = _free_port()
        env = {**os.environ, **variant.env}
        env.update(DJANGO_SETTINGS_MODULE=variant.settings, DEMO_SQLITE_PATH=str(db_path))
        self.log = tmp / f"server-{tag}.log"
        cmd = [sys.executable, "-m", "uvicorn", "--factory", variant.factory,
               "--host", "127.0.0.1", "--port", str(self.port), "--lifespan", "off",
               "--no-access-log", "--log-level", "warning"]  # fmt: skip
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.variant.name}: server exited:\n{self.log_tail()}")
            try:
                _get_status(self.url("/"))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.variant.name}: no answer in {timeout} s") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def serve_all(
    variants: Sequence[Variant], tmp: Path, db_path: Path, round_no: int
) -> Iterator[dict[str, Server]]:
    """One server per variant, all up at once: idle ones cost next to nothing, and measuring
    them back to back keeps the comparison of one path within seconds."""
    with ExitStack() as stack:
        servers: dict[str, Server] = {}
        for v in variants:
            servers[v.name] = Server(v, tmp, db_path, f"{round_no}-{v.name}")
            stack.callback(servers[v.name].stop)
        for server in servers.values():
            server.wait_ready()
        yield servers


def measure(
    server: Server, path: str, load: LoadGenerator, connections: int, warmup: int, seconds: int
) -> Sample:
    url = server.url(path)
    status = _get_status(url)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}:\n{server.log_tail()}")
    load.run(url, connections, warmup)
    pid = server.proc.pid
    cpu0, t0 = _cpu_seconds(pid), time.perf_counter()
    result = load.run(url, connections, seconds)
    cpu1, t1 = _cpu_seconds(pid), time.perf_counter()
    if server.proc.poll() is not None or result.requests == 0:
        raise RuntimeError(f"GET {path}: no requests completed:\n{server.log_tail()}")
    cpu = cpu1 - cpu0
    return Sample(
        rps=result.requests / result.seconds,
        cpu_ms=cpu / result.requests * 1000,
        p50_ms=result.p50_ms,
        util=cpu / (t1 - t0),
        errors=result.errors,
    )


# -- report ----------------------------------------------------------------------------------


def _first_line(cmd: Sequence[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError:
        return "?"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def _loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _cpu_times() -> list[int]:
    """The aggregate ``cpu`` line of /proc/stat: user nice system idle iowait irq softirq steal."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:9]]


def _own_cpu_seconds() -> float:
    """CPU of this process and of its children waited for (servers, wrk, migrate)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def header(args: argparse.Namespace, load: LoadGenerator, variants: Sequence[Variant]) -> str:
    loop = "uvloop" if util.find_spec("uvloop") else "asyncio"
    http = "httptools" if util.find_spec("httptools") else "h11"
    gen = _first_line(["wrk", "--version"]).split(" [")[0] if isinstance(load, Wrk) else load.label
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    rows = [
        ("date", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("machine", f"{nproc} CPUs usable ({os.cpu_count()} online), {_cpu_model()}, "
                    f"load average at start {_loadavg()}"),
        ("software", f"Python {sys.version.split()[0]}, Django {_version('django')}, "
                     f"asgiref {_version('asgiref')}, uvicorn {_version('uvicorn')} "
                     f"({loop} loop, {http})"),
        ("server", "1 uvicorn worker on 127.0.0.1, --no-access-log --log-level warning; "
                   "demo_site with DEBUG=False (bench.settings_load), SQLite"),
        ("load", f"{gen}, {args.connections} connections; {args.warmup} s warm-up + "
                 f"{args.duration} s measured per path and variant; {args.rounds} rounds, all "
                 "variants' servers up together, measured back to back in rotated order"),
        ("command", shlex.join([Path(sys.executable).name, *sys.argv])),
    ]  # fmt: skip
    lines = [f"{k:9} {v}" for k, v in rows]
    lines.append("variants")
    lines += [f"  {v.name:17} {v.what}" for v in variants]
    return "\n".join(lines)


def _spread(values: Sequence[float]) -> float:
    """(max - min) / median, in percent: how far apart the rounds were."""
    return (max(values) - min(values)) / statistics.median(values) * 100


def table(
    results: dict[tuple[str, str], list[Sample]], paths: Sequence[str], variants: Sequence[Variant]
) -> str:
    cols = (f"{'path':13} {'variant':17} {'req/s':>6} {'spread':>6} {'x base':>6}  "
            f"{'CPU ms/req':>10} {'spread':>6} {'x base':>6} {'+CPU ms':>7}  "
            f"{'p50 ms':>6} {'srv CPU':>7}")  # fmt: skip
    lines = [cols, "-" * len(cols)]
    for path in paths:
        base = results[(path, BASELINE)]
        for v in variants:
            samples = results[(path, v.name)]
            rps = [s.rps for s in samples]
            cpu = [s.cpu_ms for s in samples]
            # Paired with the baseline measured in the same round, seconds apart.
            rps_x = statistics.median(s.rps / b.rps for s, b in zip(samples, base, strict=True))
            cpu_x = statistics.median(
                s.cpu_ms / b.cpu_ms for s, b in zip(samples, base, strict=True)
            )
            cpu_d = statistics.median(
                s.cpu_ms - b.cpu_ms for s, b in zip(samples, base, strict=True)
            )
            p50 = statistics.median(s.p50_ms for s in samples)
            util = statistics.median(s.util for s in samples) * 100
            extra = "" if v.name == BASELINE else f"{cpu_d:+7.2f}"
            lines.append(
                f"{path:13} {v.name:17} {statistics.median(rps):6.1f} {_spread(rps):5.0f}% "
                f"{rps_x:6.3f}  {statistics.median(cpu):10.2f} {_spread(cpu):5.0f}% "
                f"{cpu_x:6.3f} {extra:>7}  {p50:6.1f} {util:6.0f}%"
            )
    lines.append("")
    lines.append(f"medians over rounds. spread: (max - min) / median. x base, +CPU ms: ratio to and "
                 f"difference from {BASELINE} measured in the same round (seconds apart), median "
                 "over rounds. srv CPU: server CPU time / wall time (100 % = one core; GIL-free work in threads goes above).")  # fmt: skip
    return "\n".join(lines)


def trace_costs(rounds: int, n: int) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    cmd = [sys.executable, "bench/trace_costs.py", "--rounds", str(rounds), "--n", str(n)]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    text = f"$ {shlex.join(['python', *cmd[1:]])}\n{out.stdout.rstrip()}"
    if out.returncode != 0:
        text += f"\n(trace_costs failed, rc {out.returncode})\n{out.stderr.rstrip()}"
    return text


# -- main ------------------------------------------------------------------------------------


def _progress(msg: str, file: IO[str] = sys.stderr) -> None:
    print(msg, file=file, flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    every = [v.name for v in VARIANTS + EXTRA_VARIANTS]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, help="rounds of every variant (default 5, quick 2)")
    p.add_argument("--duration", type=int, help="measured seconds per path (default 4, quick 2)")
    p.add_argument("--warmup", type=int, help="warm-up seconds per path (default 1)")
    p.add_argument("--connections", type=int, default=16, help="concurrent connections (16)")
    p.add_argument("--quick", action="store_true", help="a short run, to try the script out")
    p.add_argument("--paths", nargs="+", default=PATHS, metavar="PATH", help=f"default {PATHS}")
    p.add_argument(
        "--variants",
        default=",".join(v.name for v in VARIANTS),
        # argparse %-formats help: the "%" in "traced-10%" must be doubled.
        help=f"comma-separated, among {', '.join(every)} ({BASELINE} always runs)".replace(
            "%", "%%"
        ),
    )
    p.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    p.add_argument("--costs-rounds", type=int, help="trace_costs.py --rounds (default 5, quick 3)")
    p.add_argument("--costs-n", type=int, help="trace_costs.py --n (default 2000, quick 500)")
    p.add_argument("--no-costs", action="store_true", help="skip bench/trace_costs.py")
    args = p.parse_args(argv)
    quick = args.quick
    for name, normal, short in [("rounds", 5, 2), ("duration", 4, 2), ("warmup", 1, 1),
                                ("costs_rounds", 5, 3), ("costs_n", 2000, 500)]:  # fmt: skip
        if getattr(args, name) is None:
            setattr(args, name, short if quick else normal)
    unknown = set(args.variants.split(",")) - set(every)
    if unknown:
        p.error(f"unknown variant(s) {', '.join(sorted(unknown))}; known: {', '.join(every)}")
    if args.rounds < 1 or args.duration < 1 or args.warmup < 1 or args.connections < 1:
        p.error("--rounds, --duration, --warmup and --connections must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    wanted = {BASELINE, *args.variants.split(",")}
    variants = [v for v in VARIANTS + EXTRA_VARIANTS if v.name in wanted]
    paths: list[str] = args.paths

    with tempfile.TemporaryDirectory(prefix="aa-load-") as tmp_name:
        tmp = Path(tmp_name)
        load: LoadGenerator
        if args.client != "python" and shutil.which("wrk"):
            script = tmp / "report.lua"
            script.write_text(WRK_SCRIPT)
            load = Wrk(script)
        else:
            if args.client == "wrk":
                _progress("wrk not found: install it with `apt-get install wrk`")
                return 2
            if args.client == "auto":
                _progress("wrk not found (Debian: apt-get install wrk); falling back to a Python "
                          "httpx client, which shares the CPUs with the server: lower req/s, "
                          "noisier figures")  # fmt: skip
            load = PythonClient()

        head = header(args, load, variants)
        cpu_start, ours_start = _cpu_times(), _own_cpu_seconds()
        per_round = 4 + len(paths) * len(variants) * (args.warmup + args.duration + 0.2)
        estimate = args.rounds * per_round
        _progress(f"about {estimate / 60:.1f} min of load, then trace_costs")

        db_path = tmp / "demo.sqlite3"
        # Once per settings module served: silk's variants need silk's tables too.
        for settings in dict.fromkeys(["bench.settings_load", *(v.settings for v in variants)]):
            migrate = subprocess.run(
                [sys.executable, "demo_site/manage.py", "migrate", "-v0"],
                cwd=ROOT,
                env={
                    **os.environ,
                    "DJANGO_SETTINGS_MODULE": settings,
                    "DEMO_SQLITE_PATH": str(db_path),
                },
                capture_output=True,
                text=True,
                check=False,
            )
            if migrate.returncode != 0:
                _progress(f"migrate failed:\n{migrate.stdout}{migrate.stderr}")
                return 1

        results: dict[tuple[str, str], list[Sample]] = {
            (path, v.name): [] for path in paths for v in variants
        }
        for r in range(args.rounds):
            with serve_all(variants, tmp, db_path, r) as servers:
                for i, path in enumerate(paths):
                    shift = (r + i) % len(variants)
                    line = []
                    for v in variants[shift:] + variants[:shift]:
                        s = measure(
                            servers[v.name], path, load, args.connections, args.warmup,
                            args.duration,
                        )  # fmt: skip
                        results[(path, v.name)].append(s)
                        failed = f" ({s.errors} errors)" if s.errors else ""
                        line.append(f"{v.name} {s.rps:.0f}/s {s.cpu_ms:.2f}ms{failed}")
                    _progress(f"round {r + 1}/{args.rounds} {path:13} " + "  ".join(line))

        deltas = [b - a for a, b in zip(cpu_start, _cpu_times(), strict=True)]
        ours = _own_cpu_seconds() - ours_start
        load_took = time.monotonic() - started
        busy = (sum(deltas) - deltas[3] - deltas[4] - deltas[7]) / CLK_TCK
        others = max(busy - ours, 0.0) / load_took
        steal = deltas[7] / sum(deltas) * 100 if sum(deltas) else 0.0

    print(head)
    print()
    print(table(results, paths, variants))
    errors = {k: sum(s.errors for s in v) for k, v in results.items()}
    for (path, name), n in errors.items():
        if n:
            print(f"warning: {path} {name}: {n} failed requests (errors or status >= 400)")
    print(f"load phase: {load_took / 60:.1f} min; other processes kept {others:.2f} CPUs busy on "
          f"average (noise); CPU steal {steal:.1f} %; load average at end {_loadavg()}")  # fmt: skip
    if not args.no_costs:
        _progress("running bench/trace_costs.py ...")
        print()
        print("Per-event tracing cost (bench/trace_costs.py, in-process, no server):")
        print(trace_costs(args.costs_rounds, args.costs_n))
    print()
    print(f"total {(time.monotonic() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
