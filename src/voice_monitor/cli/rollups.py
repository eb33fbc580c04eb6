"""CLI commands: rollup hourly|daily, backfill, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from voice_monitor import arguments
from voice_monitor.cli import common, one_line
from voice_monitor.lake import DAILY_TABLES, HOURLY_TABLES, Lake


class HourParam(click.ParamType):
    name = "HOUR"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        try:
            arguments.period_text(value, "hour", "hour")
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        moment = common.parse_time(value, "hour", example="2026-02-15T14")
        if (moment.minute, moment.second, moment.microsecond) != (0, 0, 0):
            self.fail(f"{value!r} is not the start of an hour; use e.g. 2026-02-15T14", param, ctx)
        try:
            return arguments.period_start(moment, "hour", "2026-02-15T14", value)
        except arguments.TimeOutOfRangeError as exc:
            self.fail(str(exc), param, ctx)


class DayStartParam(common.DayParam):
    """A day, as the datetime of its start (UTC)."""

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        day = super().convert(value, param, ctx)
        try:
            return arguments.period_start(datetime(day.year, day.month, day.day, tzinfo=UTC),
                                          "day", "2026-02-15", value)
        except arguments.TimeOutOfRangeError as exc:
            self.fail(str(exc), param, ctx)


def _stamp(moment: datetime, daily: bool = False) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d}" if daily else f"{moment:%Y-%m-%dT%H:%M}Z"


def as_option(message: str) -> str:
    """A rollup's refusal as the command line says it: its options, --force and --now, for the
    Python arguments (force=True, a later now) the library names."""
    return message.replace("force=True", "--force").replace("a later now)", "a later --now)")


def report_dict(lake: Lake, report, tables: tuple[str, ...]) -> dict:
    """A rollup report as JSON-ready facts, with the snapshot partitions it wrote."""
    partitions = [lake.snapshot_partition(t, p).relative_to(lake.root).as_posix()
                  for p in report.periods for t in tables]
    return {
        "periods": list(report.periods),
        "hours": list(report.hours),  # hours a daily run built first (missing or changed)
        "rows": dict(report.rows),
        "partitions": partitions,
        "refused": [{"period": p, "message": as_option(m)} for p, m in report.refused],
        "failed": [{"period": p, "message": m} for p, m in report.failed],
    }


def _show(facts: dict, as_json: bool, unit: str, daily: bool) -> None:
    if as_json:
        common.echo_json(facts)
        return
    periods = facts["periods"]
    if facts["hours"]:
        click.echo(f"built {len(facts['hours'])} missing or changed hour(s) first: "
                   + ", ".join(_stamp(h) for h in facts["hours"]))
    if periods:
        stamps = ", ".join(_stamp(p, daily) for p in periods)
        click.echo(f"built {len(periods)} {unit}(s): {stamps}")
        for table, rows in facts["rows"].items():
            click.echo(f"  {table:16} {common.counted(rows, 'row')}")
    elif not facts["failed"] and not facts["refused"]:  # (those are named just below)
        click.echo(f"nothing to build: no {unit} needed a rollup")
    for refusal in facts["refused"]:
        click.echo(f"refused {_stamp(refusal['period'], daily)}: {refusal['message']}")
    for failure in facts["failed"]:
        click.echo(f"failed {_stamp(failure['period'], daily)}: {failure['message']}")


def _failed(exc, show) -> common.VoiceMonitorError:
    """Show what the run built, then fail it: one line naming the unreadable file."""
    show(exc.report)
    return common.VoiceMonitorError(str(exc))


def _period_map(settings=None):
    """The Dask fan-out when the dask setting ($VOICE_MONITOR_DASK) names a scheduler, else None
    (in-process); `settings`: those loaded already."""
    from voice_monitor.fanout import period_mapper
    from voice_monitor.settings import load_settings

    return period_mapper((settings or load_settings().settings).dask or None)


def _refused(exc: Exception, what: str) -> common.VoiceMonitorError:
    message = " ".join(as_option(str(exc)).split())  # one line on stderr
    if "--force" not in message:
        message = f"refused {what}: {message}; pass --force to rebuild it from the lake as it is now"
    return common.VoiceMonitorError(message)


def _run(lake: Lake, as_json: bool, unit: str, what: str, build) -> None:
    """Run a rollup (`build()`) of `unit` (hour or day) and show its report; a refusal or an
    unreadable file fails the command in one line (after showing what was built)."""
    from voice_monitor import rollups

    daily = unit == "day"
    tables = DAILY_TABLES if daily else HOURLY_TABLES

    def show(report) -> None:
        _show(report_dict(lake, report, tables), as_json, unit, daily=daily)

    try:
        report = build()
    except rollups.RefusedError as exc:
        raise _refused(exc, what) from exc
    except rollups.RollupFailedError as exc:
        raise _failed(exc, show) from exc
    show(report)


@click.group()
def rollup() -> None:
    """Build hourly or daily snapshot tables from the lake.

    \b
    Example:
      voice-monitor rollup hourly
      voice-monitor rollup daily --day 2026-02-15
    """


@rollup.command()
@click.option("--hour", type=HourParam(), default=None,
              help="Build this UTC hour only, e.g. 2026-02-15T14.")
@click.option("--force", is_flag=True,
              help="Rebuild even a period whose source retention has dropped.")
@common.lake_option
@common.now_option
@common.settings_option
@common.json_option
def hourly(hour: datetime | None, force: bool, lake: Lake, now: datetime, settings,
           as_json: bool) -> None:
    """Build hourly snapshots: the previous complete hour and every retained hour that changed.

    With --hour, that hour only. An hour whose events retention dropped is refused unless --force.

    \b
    Example:
      voice-monitor rollup hourly --now 2026-02-16T14:30:00Z
      voice-monitor rollup hourly --hour 2026-02-15T14 --force
    """
    from voice_monitor import rollups

    _run(lake, as_json, "hour", f"hour {_stamp(hour)}" if hour else "the hourly rollup",
         lambda: rollups.run_hourly(lake, now, hour=hour, force=force,
                                    retention=settings.settings.retention_config(),
                                    map_periods=None if hour else _period_map(settings.settings)))


@rollup.command()
@click.option("--day", type=DayStartParam(), default=None, help="Build this UTC day only, e.g. 2026-02-15.")
@click.option("--force", is_flag=True,
              help="Rebuild even a day whose hourly rows retention has dropped.")
@common.lake_now_json
def daily(day: datetime | None, force: bool, lake: Lake, now: datetime, as_json: bool) -> None:
    """Build daily snapshots from hourly rows: yesterday and every retained day that changed.

    With --day, that day only. A refused day is rebuilt only with --force.

    \b
    Example:
      voice-monitor rollup daily --now 2026-02-16T01:30:00Z
      voice-monitor rollup daily --day 2026-02-15
    """
    from voice_monitor import rollups

    _run(lake, as_json, "day", f"day {_stamp(day, daily=True)}" if day else "the daily rollup",
         lambda: rollups.run_daily(lake, now, day=day, force=force,
                                   map_periods=None if day else _period_map()))


@click.command()
@click.option("--start", type=common.TIME, required=True, help="First hour to rebuild (UTC).")
@click.option("--end", type=common.TIME, required=True, help="End of the range (UTC).")
@click.option("--force", is_flag=True, help="Also rebuild periods whose source retention dropped.")
@common.lake_option
@common.now_option
@common.settings_option
@common.json_option
def backfill(start: datetime, end: datetime, force: bool, lake: Lake, now: datetime, settings,
             as_json: bool) -> None:
    """Rebuild hourly then daily snapshots over a range, in order, with progress.

    With VOICE_MONITOR_DASK=tcp://scheduler:8786 the periods are built as Prefect tasks on
    that Dask cluster: every hour in parallel, then every day (docs/scaling.md). Periods that
    snapshot retention (retention.hourly_snapshots, retention.daily_snapshots) would delete are
    not built; --set changes those as for retention.

    \b
    Example:
      voice-monitor backfill --start 2026-02-10T00:00Z --end 2026-02-16T00:00Z
      voice-monitor backfill --start 2026-01-01T00:00Z --end 2026-02-16T00:00Z --set retention.hourly_snapshots=60d
    """
    from voice_monitor import rollups

    if end <= start:
        raise click.BadParameter(f"--end {_stamp(end)} is not after --start {_stamp(start)}")
    settings = settings.settings  # the Dask scheduler, and retention's cut-offs
    try:
        arguments.period_start(start.replace(minute=0, second=0, microsecond=0), "--start",
                               "2026-02-10T00:00Z", _stamp(start))
    except arguments.TimeOutOfRangeError as exc:
        raise click.BadParameter(str(exc)) from None
    try:
        report = rollups.backfill(lake, start, end, now, force=force, progress=not as_json,
                                  map_periods=_period_map(settings),
                                  retention=settings.retention_config())
    except rollups.RollupFailedError as exc:
        raise _failed(exc, lambda r: _show_backfill(r, start, end, as_json)) from exc
    if report.skipped_before is None and start.replace(minute=0, second=0, microsecond=0) \
            + timedelta(hours=1) > now:  # it said "built 0 period(s)" and no more
        click.echo(f"voice-monitor: nothing to backfill from {_stamp(start)} to {_stamp(end)}: "
                   f"no hour of it has ended at now {_stamp(now)}; backfill builds ended hours "
                   "and days (pass a later --now, or wait)", err=True)
    _show_backfill(report, start, end, as_json)


def _show_backfill(report, start: datetime, end: datetime, as_json: bool) -> None:
    skipped = report.skipped_before
    if skipped is not None:  # on stderr: --json's stdout stays the facts
        click.echo(f"voice-monitor: {_skipped(start, end, skipped)}", err=True)
        start = skipped if skipped < end else start
    facts = {
        "periods": list(report.periods),
        "rows": dict(report.rows),
        "refused": [{"period": p, "message": as_option(m)} for p, m in report.refused],
        "failed": [{"period": p, "message": m} for p, m in report.failed],
    }
    if as_json:
        common.echo_json(facts)
        return
    click.echo(f"built {len(facts['periods'])} period(s) from {_stamp(start)} to {_stamp(end)}")
    for table, rows in facts["rows"].items():
        click.echo(f"  {table:16} {common.counted(rows, 'row')}")
    for refusal in facts["refused"]:
        click.echo(f"refused {_stamp(refusal['period'])}: {refusal['message']}")
    for failure in facts["failed"]:
        click.echo(f"failed {_stamp(failure['period'])}: {failure['message']}")


def _skipped(start: datetime, end: datetime, skipped: datetime) -> str:
    """The note of a backfill whose range began before anything in the lake, in periods
    snapshot retention deletes."""
    why = ("the lake holds nothing before it (no events, snapshots or hours retention dropped) "
           "and snapshot retention would delete what was built there")
    if skipped >= end:
        return f"nothing to backfill from {_stamp(start)} to {_stamp(end)}: {why}"
    return f"backfill starts at {_stamp(skipped)}, not at --start {_stamp(start)}: {why}"


@click.command()
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@click.option("--only", type=click.Choice(["events", "snapshots"]), default=None,
              help="Event retention or snapshot retention only (quarantine, alerts and counter "
                   "state go with either).")
@common.lake_option
@common.now_option
@common.settings_option
@common.json_option
def retention(dry_run: bool, only: str | None, lake: Lake, now: datetime, settings,
              as_json: bool) -> None:
    """Drop expired partitions: events after 48 h, hourly snapshots after 7 d, daily after 90 d.

    Quarantine after 30 d, alerts after 90 d, counter state after 2 h. Whole partitions only,
    catching up on everything expired. Each period is a setting (retention.*): in
    voice-monitor.toml, as VOICE_MONITOR_RETENTION_EVENTS=72h, or with --set.

    \b
    Example:
      voice-monitor retention --dry-run --now 2026-02-16T05:00:00Z
      voice-monitor retention --only events --set retention.events=72h
    """
    from voice_monitor.retention import run_retention

    try:
        report = run_retention(lake, now, settings.settings.retention_config(), dry_run=dry_run,
                               only=only)
    except Exception as exc:
        if (dropped := getattr(exc, "retention_report", None)) is not None:
            dropped.error = one_line(common.lake_error(exc, lake))  # as stderr will say it
            _say_retention(dropped, as_json, whole=False)  # what it dropped before it failed
        raise
    _say_retention(report, as_json)
    if report.kept:  # everything else expired is gone; these stay until moved aside
        path, message = report.kept[0]
        more = f" (and {len(report.kept) - 1} more)" if len(report.kept) > 1 else ""
        raise common.VoiceMonitorError(f"kept expired partition {path}{more}: {message}")
    if report.counter_store_error:  # said after what was dropped, never instead of it
        raise common.VoiceMonitorError(report.counter_store_error)


def _say_retention(report, as_json: bool, whole: bool = True) -> None:
    """Print what a retention run dropped; not `whole`: all it did before it failed."""
    if as_json:
        common.echo_json(report.as_dict())
        return
    verb = "would delete" if report.dry_run else "deleted"
    click.echo(f"{verb} {len(report.deleted)} partition(s)" + ("" if whole else
                                                             ", then failed (below)"))
    for kind, count in report.counts().items():
        click.echo(f"  {kind:26} {count}")
    for path in report.deleted:
        click.echo(f"  {path}")
    if whole and not report.dry_run:
        counted = ("no counter rows (the counter store cannot be pruned)"
                   if report.counter_store_error else f"{report.counter_rows} counter row(s)")
        click.echo(f"pruned {counted}, {report.tmp_files} temp file(s)")
    for path, message in report.kept:
        click.echo(f"kept {path}: {message}")


@click.group()
def check() -> None:
    """Check the lake's data: the data-quality rules of sql/quality/.

    \b
    Example:
      voice-monitor check data --lake ./data
    """


@check.command()
@common.lake_option
@common.json_option
def data(lake: Lake, as_json: bool) -> None:
    """Run every data-quality rule over the snapshots; exit 1 when any rule finds rows.

    Each rule is a query in sql/quality/ that returns zero rows when the data is right (e.g. a
    platform row for every period, daily = sum of hourly). The hourly and daily flows run them
    too and publish the result as an artifact.

    \b
    Example:
      voice-monitor check data --lake ./data
      voice-monitor check data --json
    """
    from voice_monitor.quality import check_snapshots

    found = check_snapshots(lake)
    failed = {name: rows for name, rows in found.items() if rows}
    if as_json:
        common.echo_json({name: {"ok": not rows, "rows": len(rows), "examples": [list(r) for r in rows[:5]]}
                   for name, rows in found.items()})
    else:
        for name, rows in found.items():
            click.echo(f"{'ok  ' if not rows else 'FAIL'}  {name}" + (f"  {len(rows)} row(s), "
                       f"e.g. {rows[0]}" if rows else ""))
    if failed:
        raise common.VoiceMonitorError(f"{len(failed)} of {len(found)} data-quality rule(s) failed: "
                                f"{', '.join(failed)}")


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
    main.add_command(check)
    main.add_command(rollup)
    main.add_command(backfill)
    main.add_command(retention)
