"""CLI commands: metrics historical|stages|orgs, events, artifacts, sql, catalog, orgs load."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shlex
import warnings
from datetime import datetime, timedelta
from decimal import Decimal

import click
import polars as pl
from rich.console import Console
from rich.table import Table
from rich.text import Text

from voice_monitor import adhoc, pagination, queries, views
from voice_monitor.arguments import utc_text
from voice_monitor.cli import common
from voice_monitor.cli.landing import metrics
from voice_monitor.compaction import compact_lake
from voice_monitor.lake import Lake
from voice_monitor.organizations import load_organizations
from voice_monitor.pagination import Page

org_option = click.option("--org", "organization_id", default=None, callback=common.ORGANIZATION,
                          help="An organization id (default: the platform).")
start_option = click.option("--start", type=common.TIME, default=None,
                            help="Range start, UTC (default: END minus 24 hours).")
end_option = click.option("--end", type=common.TIME, default=None, help="Range end, UTC (default: now).")


def _page_limit(ctx, param, value):
    """A click callback: a page --limit below 1 is a usage error (exit 2) naming it and the
    fix, as every other bad option value is; a larger one than a page holds gives a page."""
    try:
        return None if value is None else pagination.cap_limit(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


limit_option = click.option("--limit", type=int, default=50, show_default=True,
                            callback=_page_limit, help="Rows per page, 1 or more (a page holds at most 500: a "
                                 "larger limit gives 500).")
rows_option = click.option(
    "--limit", "row_limit", type=click.IntRange(0), default=None,
    help=f"Rows to print, 0 = all (default: {adhoc.ROW_CAP:,} for the table, all for --json).")
cursor_option = click.option("--cursor", default=None,
                             help="next_cursor printed by the previous page.")


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        # naive (SQL TIMESTAMP): UTC; microseconds when it has any, as stored: --json's text
        # with a space (strftime's %Y wrote year 1 as '1', not '0001')
        return utc_text(value).replace("T", " ", 1)
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, bytes | bytearray | memoryview):  # BLOB: base64, as --json/--csv
        return common.json_default(value)
    if isinstance(value, list | tuple | dict):  # LIST, STRUCT, MAP: JSON text, as --csv
        return common.json_text(value)
    return str(value)


# C0 and C1 control characters but tab and newline, shown as \\xNN: a value a producer sent
# (an error_message may hold an ESC) never drives the terminal of whoever reads the table
_SHOWN_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if c not in (9, 10)}


# A table cell shows at most this many characters of a value's text: ten full lines of the
# 200-column table, more than an error message or a stack trace's head needs. Rich's folding
# costs more than linearly in a cell's length (a 1 M-character cell took 2.6 s, 100 M ran 19
# CPU-minutes at ~900 MB), while fetching even 100 M characters from DuckDB takes under a
# second: the cut comes before the control-character escaping and the renderer.
CELL_CAP = 2000


def _cell(value, cut: list[int] | None = None) -> Text:
    """A table cell showing `value` literally: Text, so `[/x]` is never read as Rich markup.

    A text longer than CELL_CAP characters shows its first CELL_CAP and how long it is;
    `cut` (when given) counts such cells."""
    return _shown(_text(value), CELL_CAP, cut)


def _shown(text: str, cap: int, cut: list[int] | None = None) -> Text:
    """`text` as a cell of at most `cap` characters (see `_cell`); below CELL_CAP (a table
    over its budget) the cut is marked by '…' alone, and the stderr line says the rest."""
    if len(text) <= cap:
        return Text(text.translate(_SHOWN_CONTROLS))
    if cut is not None:
        cut.append(len(text))
    mark = (f"… [cut: first {CELL_CAP:,} of {len(text):,} characters]" if cap == CELL_CAP
            else "…")
    return Text(text[:cap].translate(_SHOWN_CONTROLS) + mark)


# A whole table's budget, in lines of cells. Rich folds each cell into lines as wide as its
# column, and its cost follows those cell lines (1,000 rows of 10 cells of 2,000 characters
# took ~35 s; 100 rows of 50 columns, each column a character or two wide, ~340 s). A table
# whose cells fit TABLE_LINES lines of the columns' even width (~4 s) is shown as it is;
# beyond, the longest cells are cut to one length, never below MIN_CELL characters.
TABLE_WIDTH = 200
TABLE_LINES = 100_000
MIN_CELL = 16


def cell_cap(lengths: list[int], columns: int) -> int:
    """The most characters a cell of this table shows: CELL_CAP, or less so that the cells'
    characters (each at most the cap) fit the table's budget; never below MIN_CELL."""
    columns = max(columns, 1)
    width = max(1, (TABLE_WIDTH - 3 * columns - 1) // columns)  # the borders take 3 a column
    budget = TABLE_LINES * width
    if sum(min(n, CELL_CAP) for n in lengths) <= budget:
        return CELL_CAP
    ordered, used = sorted(lengths), 0
    for i, n in enumerate(ordered):  # the cut length L: sum of min(n, L) over the cells = budget
        if used + n * (len(ordered) - i) > budget:
            return max(MIN_CELL, min(CELL_CAP, (budget - used) // (len(ordered) - i)))
        used += n
    return CELL_CAP


def unique_names(columns: list[str]) -> list[str]:
    """Column names with repeats numbered as DuckDB numbers them in a subquery (a, a_1, a_2):
    a JSON row or a table keyed by name would otherwise keep only the last of them."""
    taken: set[str] = set()
    out = []
    for name in columns:
        unique, n = name, 0
        while unique in taken:
            n += 1
            unique = f"{name}_{n}"
        taken.add(unique)
        out.append(unique)
    return out


def _records(frame: pl.DataFrame) -> list[dict]:
    return frame.to_dicts()


def print_table(frame: pl.DataFrame, columns: list[str] | None = None, title: str | None = None,
                units: bool = False):
    """A readable table of `frame` (or of some of its columns) on stdout; with `units`, rates in
    %, milliseconds in s and dollars in $ (--json keeps the raw values)."""
    if units:
        from voice_monitor.charts import readable

        shown = readable(frame, columns)
    else:
        shown = frame.select(columns) if columns else frame
    print_rows(shown.columns, shown.iter_rows(), title)


def print_rows(columns: list[str], rows, title: str | None = None,
               whole: str = "pass --json") -> None:
    """The table of `rows` (tuples of Python values) as they are: no DataFrame in between, so
    a column whose values differ in type (a VARIANT, a MAP with integer keys) is shown whole.

    A value longer than CELL_CAP characters is cut, and one line on stderr says so and how to
    get the whole value (`whole`)."""
    cut: list[int] = []
    table = Table(title=title, show_lines=False)
    for name in columns:
        table.add_column(_cell(name, cut), overflow="fold")
    texts = [[_text(v) for v in row] for row in rows]
    cap = cell_cap([len(t) for row in texts for t in row], len(columns))
    for row in texts:
        table.add_row(*(_shown(t, cap, cut) for t in row))
    Console(width=TABLE_WIDTH).print(table)
    if not table.row_count:
        click.echo("(no rows)")
    if cut:
        cells = "1 value" if len(cut) == 1 else f"{len(cut):,} values"
        if cap == CELL_CAP:
            said = f"longer than {CELL_CAP:,} characters cut in the table"
        else:
            said = (f"cut to their first {cap:,} characters to keep this table of "
                    f"{len(texts):,} rows and {len(columns):,} columns quick to print")
        click.echo(f"voice-monitor: {cells} {said} (longest {max(cut):,}); for the whole value "
                   f"{whole}", err=True)


def _emit(frame: pl.DataFrame, as_json: bool, columns: list[str] | None = None,
          row_limit: int | None = None) -> None:
    frame, total = _capped(frame, as_json, row_limit)
    if as_json:
        common.echo_json(_records(frame))
    else:
        print_table(frame, columns, units=True)
    _say_cut(frame, total, as_json)


def _capped(frame: pl.DataFrame, as_json: bool, row_limit: int | None
            ) -> tuple[pl.DataFrame, int]:
    """The rows to print: --limit's (0 = all), else a table's first ROW_CAP, as `sql` shows
    (Rich took 10-35 s over a 40,000-row table); and how many there were. A --limit past the
    rows gives them all, as in `sql` (polars' head() overflows past 2**64)."""
    if row_limit is None and not as_json:
        row_limit = adhoc.ROW_CAP
    return (frame.head(min(row_limit, frame.height)) if row_limit else frame), frame.height


def _say_cut(shown: pl.DataFrame, total: int, as_json: bool) -> None:
    if shown.height < total:
        click.echo(f"voice-monitor: showing the first {shown.height:,} of {total:,} rows: pass "
                   "--limit N for more (0 = all)" + ("" if as_json else ", --json")
                   + ", or a narrower range", err=True)


def _emit_page(page: Page, as_json: bool, columns: list[str], also: str = "") -> None:
    if as_json:
        common.echo_json({"rows": _records(page.rows), "next_cursor": page.next_cursor})
        return
    print_table(page.rows, columns, units=True)
    if page.next_cursor:  # `also`: options the next page needs as they were (--now)
        click.echo(f"next page: --cursor {page.next_cursor}{also}")


@contextlib.contextmanager
def _warned(*categories: type[Warning]):
    """Run a read, then say each warning of `categories` it gave on one stderr line
    ('voice-monitor: warning: ...'); yields the list of those warnings."""
    said: list[warnings.WarningMessage] = []
    with warnings.catch_warnings(record=True) as warned:
        for category in categories:
            warnings.simplefilter("always", category)
        yield said
    for warning in warned:
        if issubclass(warning.category, categories):
            said.append(warning.message)
            click.echo(f"voice-monitor: warning: {warning.message}", err=True)


def _unreadable_periods(said: list) -> set[datetime]:
    """The periods the read found unreadable snapshot files for (naive UTC, as a frame's)."""
    return {p.replace(tzinfo=None) for w in said
            if isinstance(w, queries.SnapshotFilesUnreadableWarning) for p in w.periods}


def _range(start: datetime | None, end: datetime | None, now: datetime,
           period: str | None = None):
    common.ordered_range(start, end)
    if end is None and start is not None and start >= now:
        # the library's "start is not before end ...; swap them" named an end nobody gave
        raise click.BadParameter(
            f"--start {utc_text(start)} is not before now {utc_text(now)}, where the range ends "
            "without --end; give an --end after it, or a start before now",
            param_hint="'--start'")
    end = end or now
    start = start or end - timedelta(hours=24)
    period, count = queries.periods_spanned(start, end, period)
    if count > queries.MAX_PERIODS:  # the library's ValueError, exit 1, named no option
        raise click.BadParameter(
            f"the range {utc_text(start)} to {utc_text(end)} spans {count:,} {period}s, more "
            f"than the {queries.MAX_PERIODS:,} one read returns; give a later --start or an "
            "earlier --end" + (", or --period day" if period == "hour" else ""),
            param_hint="'--start'/'--end'")
    return start, end


@metrics.command()
@org_option
@start_option
@end_option
@click.option("--period", type=click.Choice(["hour", "day"]), default=None,
              help="hour or day rows; by default hourly up to 7 days, daily beyond.")
@rows_option
@common.lake_now_json
def historical(organization_id, start, end, period, row_limit, lake: Lake, now,
               as_json: bool) -> None:
    """Pipeline snapshots over a range: hourly up to 7 days, daily beyond, no gaps.

    \b
    Example:
      voice-monitor metrics historical --start 2026-02-15T00:00:00Z --end 2026-02-16T00:00:00Z
      voice-monitor metrics historical --start 2026-02-01T00:00:00Z --end 2026-02-03T00:00:00Z --period day
    """
    start, end = _range(start, end, now, period)
    with _warned(queries.SnapshotFilesUnreadableWarning) as said:
        frame = queries.historical_metrics(lake, start, end, organization_id, period=period,
                                           now=now)
    columns = ["period_start", "event_count", "artifacts_received", "artifacts_completed",
               "artifacts_failed", "overall_failure_rate", "e2e_latency_p50_ms",
               "e2e_latency_p95_ms", "total_ai_cost_usd"]
    if as_json:  # computed_at null tells a period not built from an empty one
        _emit(frame, as_json, row_limit=row_limit)
        return
    shown, total = _capped(frame, as_json, row_limit)
    _print_periods(frame, columns, "hour" if frame.is_empty() else frame["period_type"][0],
                   _unreadable_periods(said), shown.height)
    _say_cut(shown, total, as_json)


def _print_periods(frame: pl.DataFrame, columns: list[str], period: str,
                   unreadable: set[datetime] = frozenset(), rows: int | None = None) -> None:
    """The table of gap-free snapshot rows, a period with no snapshot yet shown as 'not built'
    rather than as the zeros the read fills it with (nothing happened is not the same), one
    whose snapshot file cannot be read as 'unreadable' (the warning above names the file)."""
    from voice_monitor.charts import readable

    shown = readable(frame, columns)
    built = frame["computed_at"].is_not_null().to_list()
    starts = [at.replace(tzinfo=None) for at in frame["period_start"].to_list()]
    table = [row if ok else (row[0], "unreadable" if at in unreadable else "not built",
                             *[None] * (len(row) - 2))
             for row, ok, at in zip(shown.iter_rows(), built, starts, strict=True)]
    print_rows(shown.columns, table[:rows])  # the first `rows`; the note counts them all
    missing = sum(1 for ok, at in zip(built, starts, strict=True)
                  if not ok and at not in unreadable)
    if missing:
        click.echo(_not_built(missing, period, "with no snapshot, shown as 'not built' rather than 0"))


def _not_built(missing: int, period: str, shown: str) -> str:
    """The line under a table that says how many periods have no snapshot and what builds them."""
    return f"{missing} {period}(s) {shown}: {queries.what_builds(period)}"


def _note_left_out(command: str, gaps, as_json: bool, said: list = ()) -> None:
    """Totals are sums of snapshot rows: say when periods of the range have none yet (the
    current hour, an hour before its :30 rollup), which the totals leave out. `gaps` is the
    totals read's own (period, first, last, periods with no snapshot): the stage snapshots for
    `stages`, the pipeline ones for `orgs`. Under a table, a note; with --json, whose stdout is
    the rows alone, a line on stderr naming the periods (the API's `not_built`). Periods whose
    snapshot file cannot be read (`said`, warned naming the file) are not said again."""
    period, first, last, missing = gaps
    unreadable = _unreadable_periods(said)
    missing = [m for m in missing if m.replace(tzinfo=None) not in unreadable]  # those were warned, naming the file
    if not missing:
        return
    if as_json:
        message = queries.not_built_message(f"metrics {command}", period, first, last, missing)
        click.echo(f"voice-monitor: {message}", err=True)
    else:
        click.echo(_not_built(len(missing), period,
                              "of the range with no snapshot, left out of these totals"))


@metrics.command()
@org_option
@start_option
@end_option
@common.lake_now_json
def stages(organization_id, start, end, lake: Lake, now, as_json: bool) -> None:
    """Per-stage totals over a range: started, succeeded, failed, failure rate, latency.

    \b
    Example:
      voice-monitor metrics stages --org org-7 --start 2026-02-15T00:00:00Z --json
    """
    start, end = _range(start, end, now)
    with _warned(queries.SnapshotFilesUnreadableWarning) as said:
        frame, gaps = queries.stage_breakdown.with_gaps(lake, start, end, organization_id,
                                                       now=now)
    _emit(frame, as_json)
    _note_left_out("stages", gaps, as_json, said)


@metrics.command()
@start_option
@end_option
@rows_option
@common.lake_now_json
def orgs(start, end, row_limit, lake: Lake, now, as_json: bool) -> None:
    """Per-organization totals and rates over a range, with names, most received first.

    \b
    Example:
      voice-monitor metrics orgs --start 2026-01-01T00:00:00Z --end 2026-02-16T00:00:00Z
    """
    start, end = _range(start, end, now)
    # the totals are read; names are 'Unknown', or periods left out, named with the fix
    with _warned(queries.OrganizationNamesUnreadableWarning,
                 queries.SnapshotFilesUnreadableWarning) as said:
        frame, gaps = queries.org_breakdown.with_gaps(lake, start, end, now=now)
    _emit(frame, as_json,
          ["organization_id", "name", "artifacts_received", "artifacts_completed",
           "artifacts_failed", "overall_failure_rate", "e2e_latency_avg_ms",
           "total_ai_cost_usd", "avg_cost_per_artifact_usd"], row_limit)
    _note_left_out("orgs", gaps, as_json, said)


@click.group()
def events() -> None:
    """Read the event log: recent events, one artifact's timeline.

    \b
    Example:
      voice-monitor events recent --type transcription_failed --limit 20
      voice-monitor events timeline art-1003
    """


@events.command()
@click.option("--type", "event_types", multiple=True, callback=common.EVENT_TYPES,
              help="Event type (repeatable).")
@click.option("--stage", default=None, callback=common.STAGE, help="Pipeline stage.")
@click.option("--org", "organization_id", default=None, callback=common.ORGANIZATION,
              help="Organization id.")
@click.option("--artifact", "artifact_id", default=None, callback=common.ARTIFACT,
              help="Artifact id.")
@click.option("--start", type=common.TIME, default=None, help="Events at or after this UTC time.")
@click.option("--end", type=common.TIME, default=None, help="Events before this UTC time.")
@click.option("--errors-only", is_flag=True, help="Only *_failed events and events with an error.")
@click.option("--now", type=common.TIME, default=None,
              help="Read the log as it was at this UTC time: events stamped later are ignored "
                   "(default: every landed event). Pass the same --now with --cursor.")
@limit_option
@cursor_option
@common.lake_option
@common.json_option
def recent(event_types, stage, organization_id, artifact_id, start, end, errors_only, now,
           limit, cursor, lake: Lake, as_json: bool) -> None:
    """Recent events, newest first, one page at a time (all filters apply together).

    \b
    Example:
      voice-monitor events recent --type transcription_failed --org org-7 --limit 20
      voice-monitor events recent --now 2026-02-16T14:30:00Z
    """
    common.ordered_range(start, end)
    if now is not None:  # as the API's `now`: `end` is exclusive, so one microsecond past now
        if start is not None and start > now and (end is None or end > now):
            raise click.BadParameter(
                f"--start {utc_text(start)} is after --now {utc_text(now)}, and only events "
                "stamped at or before now are read; give a start before now", param_hint="'--start'")
        end = min(end or now + timedelta(microseconds=1), now + timedelta(microseconds=1))
    with _warned(queries.EventFilesUnreadableWarning):  # hours read around: named, exit 0
        page = queries.recent_events(lake, list(event_types) or None, stage, organization_id,
                                     artifact_id, start, end, errors_only, limit, cursor)
    _emit_page(page, as_json, ["timestamp", "event_id", "event_type", "pipeline_stage",
                               "organization_id", "artifact_id", "error_code"],
               f" --now {utc_text(now)}" if now is not None else "")


@events.command()
@click.argument("artifact_id", callback=common.ARTIFACT)
@click.option("--now", type=common.TIME, default=None,
              help="Read the artifact as it was at this UTC time: events stamped later are "
                   "ignored (default: every landed event).")
@rows_option
@common.lake_option
@common.json_option
def timeline(artifact_id: str, now, row_limit, lake: Lake, as_json: bool) -> None:
    """Every event of one artifact, oldest first.

    \b
    Example:
      voice-monitor events timeline art-123 --json
    """
    with _warned(queries.EventFilesUnreadableWarning):  # hours read around: named, exit 0
        frame = queries.artifact_timeline(lake, artifact_id, now=now)
    _emit(frame, as_json,
          ["timestamp", "event_id", "event_type", "pipeline_stage", "duration_ms",
           "error_code", "error_message"], row_limit)


@click.group()
def artifacts() -> None:
    """Artifacts that failed, and artifacts still in flight.

    \b
    Example:
      voice-monitor artifacts failed --limit 10
      voice-monitor artifacts active
    """


@artifacts.command()
@click.option("--since", type=common.TIME, default=None, help="Only failures at or after this UTC time.")
@click.option("--now", type=common.TIME, default=None,
              help="Read the lake as it was at this UTC time: events stamped later are ignored "
                   "(default: every landed event).")
@limit_option
@cursor_option
@common.lake_option
@common.json_option
def failed(since, now, limit, cursor, lake: Lake, as_json: bool) -> None:
    """Artifacts whose latest outcome is a failure, newest first.

    \b
    Example:
      voice-monitor artifacts failed --since 2026-02-16T00:00:00Z
    """
    with _warned(queries.EventFilesUnreadableWarning):
        page = queries.failed_artifacts(lake, since, limit, cursor, now=now)
    _emit_page(page, as_json,
               ["artifact_id", "organization_id", "failed_at", "failed_stage", "error_code",
                "failure_events", "retries"], f" --now {utc_text(now)}" if now is not None else "")


@artifacts.command()
@click.option("--now", type=common.TIME, default=None,
              help="Treat this UTC time as now, e.g. 2026-02-16T14:30:00Z (default: the "
                   "clock; with --cursor, the now of the first page).")
@limit_option
@cursor_option
@common.lake_option
@common.json_option
def active(now, limit, cursor, lake: Lake, as_json: bool) -> None:
    """Artifacts received and not finished: current stage and time in it, longest first.

    \b
    Example:
      voice-monitor artifacts active --limit 20 --now 2026-02-16T14:30:00Z
    """
    # a cursor continues at its first page's now (a later clock would skip or repeat rows)
    with _warned(queries.EventFilesUnreadableWarning):
        page = queries.active_artifacts(lake, limit, cursor, now=now)
    _emit_page(page, as_json,
               ["artifact_id", "organization_id", "current_stage", "stage_entered_at",
                "time_in_stage_s", "last_event_type"],
               f" --now {utc_text(now)}" if now is not None else "")


def _sql_default(value):
    """A CSV cell: the text a JSON string of `sql --json` would hold (UTC times with Z, an
    INTERVAL as an ISO-8601 duration, a BLOB as base64); a list, struct or map as JSON text; a
    DECIMAL exactly."""
    if value is None or isinstance(value, str | int | float | Decimal):
        return value
    if isinstance(value, list | tuple | dict):
        return common.json_text(value)
    return common.json_default(value)


@click.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows (every row unless --limit).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (every row unless --limit).")
@click.option("--limit", type=click.IntRange(0), default=None,
              help=f"Rows to print, 0 = all (default: {adhoc.ROW_CAP:,} for the table, all for "
                   "--json/--csv).")
@click.option("--allow-writes", is_flag=True,
              help="Trusted use only: full DuckDB access (files anywhere, COPY, ATTACH, ...).")
@common.lake_option
def sql(query: str, as_json: bool, as_csv: bool, limit: int | None, allow_writes: bool,
        lake: Lake) -> None:
    """Run a read-only SQL query against the lake's views (events, pipeline_hourly, ...).

    By default the query can read the lake and nothing else, and cannot write anywhere.

    \b
    Example:
      voice-monitor sql "select event_type, count(*) from events group by all" --csv
      voice-monitor sql "from events order by timestamp desc" --limit 20
    """
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    if limit is None and not (as_json or as_csv):
        limit = adhoc.ROW_CAP
    result = adhoc.run_query(lake, query, limit or None, allow_writes=allow_writes)
    columns, rows = unique_names(result.columns), result.rows
    if as_json:
        common.echo_json([dict(zip(columns, row, strict=True)) for row in rows])
    elif as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_sql_default(v) for v in row] for row in rows])
        click.echo(buffer.getvalue(), nl=False)
    elif columns:
        print_rows(columns, rows, whole="pass --json (or --csv), or select a part in SQL: "
                   "left(col, n), substr(col, start, n), length(col)")
    if result.truncated:
        click.echo(f"voice-monitor: showing the first {common.counted(len(rows), 'row')}; more exist: pass "
                   "--limit N for more (0 = all), or --json/--csv", err=True)
    if result.statements > 1:  # the earlier statements' rows are not shown: say so
        click.echo(f"voice-monitor: ran {result.statements} statements; shown: the rows of the "
                   "last one only (run each on its own to see its rows)", err=True)


def _catalog_path(ctx, param, value):
    """A click callback: an empty PATH (an unset variable) is a usage error, never the
    default (which wrote <lake>/catalog.duckdb for a path nobody gave); so is a folder (or a
    path ending in '/'), named with a file in it to give (click's "File '/tmp' is a
    directory." named no fix)."""
    if isinstance(value, str) and not value.strip():
        raise click.BadParameter(f"catalog path {value!r} is empty; name a file, e.g. "
                                 "./catalog.duckdb, or leave PATH out for <lake>/catalog.duckdb")
    if isinstance(value, str) and (os.path.isdir(value) or value.endswith(os.sep)):
        # a path ending in '/' names a folder too: 'exports/' wrote a file named 'exports'
        raise click.BadParameter(
            f"catalog path {value!r} is a folder; name a file in it, e.g. "
            f"{shlex.quote(os.path.join(value, 'catalog.duckdb'))}")
    return value


@click.command()
@click.argument("path", required=False, type=click.Path(), callback=_catalog_path)
@common.lake_option
def catalog(path: str | None, lake: Lake) -> None:
    """Write a DuckDB database file holding the views over this lake (absolute paths).

    \b
    Example:
      voice-monitor catalog ./catalog.duckdb --lake ./data
      duckdb ./catalog.duckdb "select count(*) from events"
    """
    # beside a local lake; in the working folder for a lake on an object store
    default = "catalog.duckdb" if lake.remote else lake.root / "catalog.duckdb"
    # a mistyped path is not a reason to make folders
    with _warned(views.CatalogViewsUnreadableWarning):  # its other views answer
        target = views.write_catalog(lake, path or default, make_folders=False)
    click.echo(f"wrote {target} with views: {', '.join(views.VIEWS)}")


MAX_GRACE_HOURS = 876_000  # 100 years: more would take the cut-off off the calendar


def _grace_hours(ctx, param, value):
    """A click callback: NaN passes a FloatRange (it compares false with its end), and so does
    infinity or 1e400 (which is infinity) above its start; refuse them."""
    if value is not None and not value <= MAX_GRACE_HOURS:
        raise click.BadParameter(f"{value} is not a number of hours up to {MAX_GRACE_HOURS:,} "
                                 "(100 years); use e.g. 1 or 0.5")
    return value


@click.command()
@click.option("--grace-hours", type=click.FloatRange(min=0), default=1.0, show_default=True,
              callback=_grace_hours,
              help="Only hours that closed at least this long before now.")
@common.lake_now_json
def compact(grace_hours: float, lake: Lake, now, as_json: bool) -> None:
    """Merge each closed event hour into one file sorted for lookups (results do not change).

    \b
    Example:
      voice-monitor compact --lake ./data
    """
    report = compact_lake(lake, now, timedelta(hours=grace_hours))
    if as_json:
        common.echo_json({"hours": report.hours, "files_removed": report.files_removed,
                   "unreadable": [{"hour": h, "message": m} for h, m in report.unreadable]})
    else:
        click.echo(f"compacted {common.counted(len(report.hours), 'hour')}, replacing "
                   f"{common.counted(report.files_removed, 'file')}")
    if report.unreadable:  # every other hour was compacted; this one is left as it was
        hour, message = report.unreadable[0]
        more = f" (and {len(report.unreadable) - 1} more hour(s))" if len(report.unreadable) > 1 else ""
        raise common.VoiceMonitorError(f"left hour {common.utc_text(hour)}{more} uncompacted: {message}")


@click.group(name="orgs")
def orgs_group() -> None:
    """The organizations dimension (names for organization ids).

    \b
    Example:
      voice-monitor orgs load organizations.csv
    """


@orgs_group.command()
@click.argument("file", type=click.Path(dir_okay=False))
@common.lake_option
def load(file: str, lake: Lake) -> None:
    """Replace the organization names with a CSV file (header organization_id,name).

    \b
    Example:
      voice-monitor orgs load organizations.csv --lake ./data
    """
    rows = load_organizations(lake, file)
    click.echo(f"loaded {common.counted(rows, 'organization')} into {lake.organizations_file}")


def register(main: click.Group) -> None:
    """Add this module's commands to the main group (metrics subcommands join landing's group)."""
    for command in (events, artifacts, sql, catalog, compact, orgs_group):
        main.add_command(command)
