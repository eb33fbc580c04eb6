"""CLI command: demo (build a demo lake, replay the schedules, print a summary)."""

from __future__ import annotations

import shlex
import time
from datetime import UTC, datetime

import click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from voice_monitor.arguments import utc_text
from voice_monitor.cli.common import TIME, counted, echo_json, json_option, lake_option
from voice_monitor.demo.run import (
    MAX_DAYS,
    check_start,
    prepare_lake,
    quiet_logs,
    run_demo,
    summary,
)
from voice_monitor.lake import Lake


@click.command()
@lake_option(create=True)
@click.option("--days", type=click.IntRange(1, MAX_DAYS), default=3, show_default=True,
              help="How many UTC days to simulate.")
@click.option("--seed", type=click.IntRange(0), default=7, show_default=True,
              help="Random seed, 0 or more: the same seed and --end give the same events.")
@click.option("--end", "end", type=TIME, default=None,
              help="Last simulated moment, e.g. 2026-02-18T12:00:00Z: the demo's now (default: "
                   "now, rounded down to 5 minutes).")
@click.option("--now", "now", type=TIME, default=None,
              help="The same as --end (give one of them, or both the same).")
@click.option("--artifacts-per-day", type=click.IntRange(10, 100_000), default=1000,
              show_default=True, help="Average voice notes per weekday (about 15 events each).")
@json_option
def demo(lake: Lake, days: int, seed: int, end: datetime | None, now: datetime | None,
         artifacts_per_day: int, as_json: bool) -> None:
    """Build a realistic demo lake and run every flow on it as the schedules would.

    Lands several days of synthetic events (20 organizations, failures, retries, late,
    duplicate and invalid records) hour by hour, runs the hourly and daily rollups, retention
    and the health checks at their scheduled times, then prints a summary. A lake made by the
    demo is rebuilt on the next run; any other non-empty lake is refused.

    \b
    Example:
      voice-monitor demo
      voice-monitor demo --lake /tmp/demo --days 1 --seed 3 --end 2026-02-18T12:00:00Z --json
    """
    if end is not None and now is not None and end != now:  # the last one given won, unsaid
        raise click.BadParameter(
            f"--end {utc_text(end)} and --now {utc_text(now)} differ; they are one moment, the "
            "demo's now: give one of them", param_hint="'--end' / '--now'")
    end = end or now
    if end is None:
        now = datetime.now(UTC)
        end = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    try:
        check_start(end, days)  # before prepare_lake clears an earlier demo
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    started = time.perf_counter()
    prepare_lake(lake)  # refuse a lake the demo did not make before drawing anything
    undo = quiet_logs()
    console = Console(stderr=True)
    try:
        with Progress(TextColumn("[bold cyan]{task.fields[clock]}"), BarColumn(),
                      MofNCompleteColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=console, disable=as_json) as bar:
            task = bar.add_task("generating events", total=None, clock="")

            def progress(done: int, total: int, moment: datetime, note: str) -> None:
                bar.update(task, completed=done, total=total, description=note,
                           clock=f"{moment:%a %Y-%m-%d %H:%M}Z")

            run = run_demo(lake, end, days=days, seed=seed, artifacts_per_day=artifacts_per_day,
                           progress=progress)
        result = summary(run)
    finally:
        undo()
    result["seconds"]["total"] = round(time.perf_counter() - started, 2)
    if as_json:
        echo_json(result)
        return
    _print(Console(), result)


def _print(out: Console, s: dict) -> None:
    gen, land = s["generated"], s["landing"]
    # the lake path and the reasons are text, not markup: a path may hold `[` (contract §4)
    out.print(f"\n[bold]Demo lake[/] {escape(str(s['lake']))}: {s['days']} day(s), "
              f"{s['start']:%Y-%m-%d %H:%M}Z → {s['end']:%Y-%m-%d %H:%M}Z, "
              f"{gen['artifacts']:,} voice notes from {counted(gen['organizations'], 'organization')}")
    for name, window in gen["incidents"].items():
        out.print(f"  incident {name.replace('_', ' ')}: {window['start']:%a %H:%M}–"
                  f"{window['end']:%H:%M}Z")
    out.print(f"[bold]Landed[/] {land['accepted']:,} events in {land['batches']} deliveries "
              f"(of which {land['duplicates']:,} duplicate deliveries, counted once; "
              f"{gen['late']} late) · [bold]quarantined[/] {land['quarantined']:,}")
    reasons = Table("quarantine reason", "records", box=None, padding=(0, 2))
    for reason, n in land["quarantine_reasons"].items():
        reasons.add_row(escape(reason[:90]), f"{n:,}")
    out.print(reasons)

    flows = Table("flow", "runs", "result", "seconds", title="Flows, as scheduled", box=box.SIMPLE)
    for name, f in s["flows"].items():
        if name.endswith("rollup"):
            what = (f"{counted(f['periods_built'], 'period')} built, "
                    f"{counted(f['rows_written'], 'row')}")
            what += f", {len(f['refused'])} refused" if f["refused"] else ""
            caught = f.get("caught_up") or []
            what += f", {len(caught)} late-changed day(s) rebuilt at the end" if caught else ""
            broken = ", ".join(f["check_errors"])
            what += f", data-quality rules failed: {broken}" if broken else ""
        elif name.endswith("retention"):
            what = (f"{counted(f['partitions_deleted'], 'partition')} deleted" if f["runs"]
                    else "no Sunday in range")
        else:
            errors = sum(f["check_errors"].values())
            what = f"{counted(len(s['alerts']['raised']), 'alert')} raised, " \
                   f"{len(s['alerts']['resolved'])} resolved" \
                   + (f", {counted(errors, 'check error')}" if errors else "")
        flows.add_row(name.replace("_", " "), str(f["runs"]), what, f"{f['seconds']:.1f}")
    out.print(flows)

    rt = s["realtime"]
    counts = " · ".join(f"{k.replace('artifacts_', '').replace('_', ' ')} {v:,}"
                        for k, v in rt.items() if not k.startswith("window"))
    out.print(f"[bold]Real-time[/] (the hour to {rt['window_end']:%H:%M}Z): {counts}")
    out.print(_periods("Daily platform snapshots", s["snapshots"]["daily"], "%a %m-%d"))
    out.print(_periods("Last hours, platform", s["snapshots"]["hourly"], "%a %H:%M"))
    orgs = Table("organization", "received", "failed", "fail %", "AI cost",
                 title="Busiest organizations", box=box.SIMPLE)
    for o in s["snapshots"]["organizations"]:
        orgs.add_row(f"{o['name']} ({o['organization_id']})" if o["organization_id"] else "(none)",
                     f"{o['artifacts_received']:,}", f"{o['artifacts_failed']:,}",
                     f"{o['overall_failure_rate']:.1%}", f"${o['total_ai_cost_usd']:,.2f}")
    out.print(orgs)

    alerts = Table("alert", "scope", "severity", "raised", "resolved",
                   title="Alerts raised by the health checks", box=box.SIMPLE)
    resolved = {a["alert_id"]: a["resolved_at"] for a in s["alerts"]["resolved"]}
    for a in s["alerts"]["raised"]:
        done = resolved.get(a["alert_id"])
        alerts.add_row(a["type"], a["organization_id"] or "platform", a["severity"],
                       f"{a['raised_at']:%a %H:%M}", f"{done:%a %H:%M}" if done else "[bold]active")
    out.print(alerts)
    lake = escape(shlex.quote(str(s["lake"])))
    out.print(f"Done in {s['seconds']['total']:.0f} s. Explore: voice-monitor metrics historical "
              f"--lake {lake} --start {s['start']:%Y-%m-%dT%H:%M}Z --end {s['end']:%Y-%m-%dT%H:%M}Z"
              f" · voice-monitor alerts history --lake {lake} · voice-monitor sql --lake {lake} "
              "\"select event_type, count(*) from events group by all\"")
    out.print(f"Serve it: voice-monitor serve --no-auth --lake {lake}  "
              "(dashboard, API and collector on http://127.0.0.1:8787/)", soft_wrap=True)


def _periods(title: str, rows: list[dict], fmt: str) -> Table:
    table = Table(title=title, box=box.SIMPLE)
    for name in ("period", "events", "received", "done", "failed", "fail %", "e2e p95", "AI cost"):
        table.add_column(name, no_wrap=True, justify="left" if name == "period" else "right")
    for r in rows:
        if r["computed_at"] is None:
            table.add_row(f"{r['period_start']:{fmt}}", "[dim]pending[/]", *[""] * 6)
            continue
        table.add_row(f"{r['period_start']:{fmt}}", f"{r['event_count']:,}",
                      f"{r['artifacts_received']:,}", f"{r['artifacts_completed']:,}",
                      f"{r['artifacts_failed']:,}", f"{r['overall_failure_rate']:.1%}",
                      f"{r['e2e_latency_p95_ms'] / 60000:.1f}m", f"${r['total_ai_cost_usd']:,.2f}")
    return table


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
    main.add_command(demo)
