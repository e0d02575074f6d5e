"""The failure message of an async budget: enough to act on without rerunning the test.

Per request over budget: which request (method, path, route, view), each broken budget with
its evidence (the hops with targets and call sites, the way ``assertNumQueries`` lists the
queries; blocking calls at the project line; the queries; where a
``SynchronousOnlyOperation`` was raised) and, for hops, the middleware that forced sync mode
and what each member costs, from the chain audit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from async_audit.budget import (
    ASYNC_CLIENT,
    MAX_LISTED,
    RequestRecord,
    project_blocking,
    project_line,
    sync_only_errors,
    where,
)

if TYPE_CHECKING:
    from async_audit.budget import AsyncBudget

__all__ = ["render_failure"]

_INDENT = "    "


def render_failure(budget: AsyncBudget, over: list[tuple[RequestRecord, list[str]]]) -> str:
    limits = budget.limits
    wanted = []
    if limits.hops is not None:
        wanted.append(f"hops {'==' if limits.exact else '<='} {limits.hops}")
    if limits.blocking is not None:
        wanted.append(f"blocking calls on the event loop <= {limits.blocking}")
    if limits.queries is not None:
        wanted.append(f"queries {'==' if limits.exact else '<='} {limits.queries}")
    if limits.sync_only_errors is not None:
        wanted.append(f"SynchronousOnlyOperation <= {limits.sync_only_errors}")
    lines = [
        f"async budget exceeded by {len(over)} of {len(budget.requests)} request(s) "
        f"(per request: {', '.join(wanted)})"
    ]
    chain_told = False
    for record, problems in over:
        lines.append("")
        lines.append(_describe(record))
        for problem in problems:
            lines.extend(_PARTS[problem](budget, record))
        if "hops" in problems and not chain_told:
            lines.extend(_chain_lines(record))
            chain_told = True
    if any(r.client == ASYNC_CLIENT and "hops" in p for r, p in over):
        lines.append("")
        lines.append(
            "Hops were counted through Django's AsyncClient (AsyncClientHandler). It makes the "
            "same two handler hops as a server's ASGIHandler (request_started's sync receivers, "
            "sync_to_async(response.close)), so the counts match the real ASGI handler's; but it runs "
            "response.close with thread_sensitive=False and gives the request no "
            "ThreadSensitiveContext of its own, so queue waits differ."
        )
    return "\n".join(lines)


def _describe(record: RequestRecord) -> str:
    trace = record.trace
    route = "no route matched" if trace.route is None else f"route {trace.route!r}"
    view = ""
    if trace.view is not None:
        kind = {True: "async view", False: "sync view", None: "view"}[trace.view_is_async]
        view = f", {kind} {trace.view}"
    status = "no response" if trace.status is None else str(trace.status)
    return f"{record.method} {record.path} -> {status} ({route}{view}) through {record.client}"


def _hops(budget: AsyncBudget, record: RequestRecord) -> list[str]:
    hops = record.trace.hops
    limits = budget.limits
    rule = "exactly" if limits.exact else "at most"
    lines = [f"  hops: {len(hops)}, budget {rule} {limits.hops}"]
    members = _middleware_paths()
    for n, hop in enumerate(hops[:MAX_LISTED], 1):
        notes = []
        if hop.target in members:
            # Django's adapter between chain modes: it runs that member and all below it.
            mode = "in a thread" if hop.direction == "sync_to_async" else "back on the loop"
            notes.append(f"adapter: runs this member and the ones below it {mode}")
        if not hop.thread_sensitive:
            notes.append("thread_sensitive=False")
        if hop.error:
            notes.append(f"raised {hop.error}")
        note = f" [{', '.join(notes)}]" if notes else ""
        lines.append(
            f"{_INDENT}{n:>2}. {hop.direction:<13} {hop.target}{note}\n"
            f"{_INDENT}      at {where(hop.site)}"
        )
    if len(hops) > MAX_LISTED:
        lines.append(f"{_INDENT}... and {len(hops) - MAX_LISTED} more")
    return lines


def _middleware_paths() -> set[str]:
    try:
        from django.conf import settings

        return {str(path) for path in settings.MIDDLEWARE}
    except Exception:  # the message must come out whatever the settings hold
        return set()


def _blocking(budget: AsyncBudget, record: RequestRecord) -> list[str]:
    calls = project_blocking(record.trace)
    lines = [
        f"  blocking calls on the event loop: {len(calls)}, budget at most {budget.limits.blocking}"
    ]
    for call in calls[:MAX_LISTED]:
        ms = call.duration * 1000.0
        lines.append(
            f"{_INDENT}{call.call} ({call.category}, {ms:.1f} ms) at "
            f"{where(project_line(call.site, call.stack))}"
        )
    lines.append(
        f"{_INDENT}await an async equivalent, or move the call off the loop with "
        "sync_to_async / asyncio.to_thread"
    )
    return lines


def _queries(budget: AsyncBudget, record: RequestRecord) -> list[str]:
    queries = record.trace.queries
    limits = budget.limits
    rule = "exactly" if limits.exact else "at most"
    lines = [f"  queries: {len(queries)}, budget {rule} {limits.queries}"]
    for n, query in enumerate(queries[:MAX_LISTED], 1):
        lines.append(f"{_INDENT}{n:>2}. [{query.alias}] {query.sql}")
    if len(queries) > MAX_LISTED:
        lines.append(f"{_INDENT}... and {len(queries) - MAX_LISTED} more")
    return lines


def _sync_only(budget: AsyncBudget, record: RequestRecord) -> list[str]:
    raised = sync_only_errors(record.trace)
    lines = [
        f"  SynchronousOnlyOperation raised: {len(raised)}, budget at most "
        f"{budget.limits.sync_only_errors}"
    ]
    for exc in raised:
        lines.append(f"{_INDENT}at {where(project_line(exc.site, exc.stack))}: {exc.message}")
    lines.append(
        f"{_INDENT}sync ORM or other async-unsafe code ran on the event loop: use the ORM's "
        "a* methods (aget, acount, ...) or wrap the code in sync_to_async"
    )
    return lines


def _wsgi(budget: AsyncBudget, record: RequestRecord) -> list[str]:
    return [
        "  this request went through Django's sync test client (Client, the WSGI path): there "
        "is no event loop there, so a budget on hops or blocking calls cannot hold or fail. "
        "Use pytest-django's `async_client` fixture (django.test.AsyncClient; "
        "`self.async_client` in a TestCase) and await the request."
    ]


def _dropped(budget: AsyncBudget, record: RequestRecord) -> list[str]:
    return [
        f"  {record.trace.dropped} event(s) were dropped (the trace holds at most "
        f"{record.trace.max_events}): every count of this request may be too low. Raise "
        "ASYNC_AUDIT['MAX_EVENTS_PER_TRACE'] for this test."
    ]


_PARTS = {
    "hops": _hops,
    "blocking": _blocking,
    "queries": _queries,
    "sync_only": _sync_only,
    "wsgi": _wsgi,
    "dropped": _dropped,
}


def _chain_lines(record: RequestRecord) -> list[str]:
    """What the middleware chain costs, from the chain audit of ``settings.MIDDLEWARE``."""
    try:
        from async_audit.inventory.chain import analyse_chain

        chain = analyse_chain(verify=False)
    except Exception as exc:  # the message must come out whatever the chain holds
        return [f"  (the middleware chain could not be audited: {type(exc).__name__}: {exc})"]
    lines = ["  middleware chain (from the chain audit of settings.MIDDLEWARE):"]
    for member in chain.members:
        if member.mode_under_asgi == "sync" and not member.async_capable:
            dragged = (
                f"; it drags {len(member.drags)} member(s) outside it into sync mode: "
                + ", ".join(member.drags)
                if member.drags
                else ""
            )
            lines.append(
                f"{_INDENT}sync mode forced by {member.path} (sync-only, AA101): Django "
                f"switches async->sync around it{dragged}"
            )
    costly = [m for m in chain.members if m.hops_per_request]
    if costly:
        per = ", ".join(f"{m.path} {m.hops_per_request}" for m in costly)
        lines.append(f"{_INDENT}hops per request by member: {per}")
    lines.append(
        f"{_INDENT}chain {chain.chain_hops} + handler {chain.handler_hops} hops per request"
        + ("" if record.trace.view_is_async is not False else ", + 1 for the sync view")
    )
    return lines
