"""What the CLI prints is the data, literally: a value a producer sent never becomes terminal
markup or a terminal control sequence, and no column of a query is lost.

Rich (the CLI's tables) reads `[...]` in text as markup: `[/x]` in an event's organization id
made `events recent` and `events timeline` fail with a MarkupError, `[bold red]` restyled the
table, and an ESC in an error_message (landed as sent: the contract refuses control characters
in identifiers only) reached the on-call engineer's terminal as a live escape sequence.
"""

from __future__ import annotations

import json

import pytest
from conftest import NOW, event

from voice_monitor.cli import main
from voice_monitor.landing import land_records

ESC = "\x1b"


def run(capsys, *args: str) -> tuple[str, str]:
    try:
        main(list(args))
    except SystemExit as exit_:
        assert exit_.code in (0, None), capsys.readouterr().err
    captured = capsys.readouterr()
    return captured.out, captured.err


@pytest.fixture
def marked(lake):
    land_records(lake, [event(
        "transcription_failed", NOW, event_id="m1", artifact_id="[bold red]art[/bold red]",
        organization_id="org-[/x]", error_code="E[/]",
        error_message=f"boom [/oops] {ESC}]0;pwned\a{ESC}[2J \x9b31m tail")], now=NOW)
    return lake


@pytest.mark.parametrize("command", [("events", "recent"),
                                     ("events", "timeline", "[bold red]art[/bold red]")])
def test_brackets_and_controls_in_values_are_printed_literally(marked, capsys, command):
    out, err = run(capsys, *command, "--lake", str(marked.root))
    assert err == ""
    assert "E[/]" in out
    if command[1] == "recent":  # its table shows the ids
        assert "[bold red]art[/bold red]" in out and "org-[/x]" in out  # shown, not applied
    else:  # the timeline's table shows error_message
        assert "boom [/oops]" in out and "\\x1b]0;pwned\\x07" in out and "\\x9b31m" in out
    assert ESC not in out and "\x9b" not in out and "\a" not in out


def test_sql_prints_brackets_literally(marked, capsys):
    out, _ = run(capsys, "sql", "select organization_id as \"[/h]\" from events",
                 "--lake", str(marked.root))
    assert "org-[/x]" in out and "[/h]" in out


def test_sql_keeps_every_column_of_repeated_names(lake, capsys):
    """`select 1 as a, 2 as a` printed one column 'a' holding 2 (table and --json): the first
    was dropped. Repeated names are numbered as DuckDB numbers them in a subquery."""
    out, _ = run(capsys, "sql", "select 1 as a, 2 as a, 3 as a", "--json", "--lake", str(lake.root))
    assert json.loads(out) == [{"a": 1, "a_1": 2, "a_2": 3}]
    out, _ = run(capsys, "sql", "select 1 as a, 2 as a", "--lake", str(lake.root))
    header, row = [line for line in out.splitlines() if "a" in line or "1" in line][:2]
    assert header.split() == ["┃", "a", "┃", "a_1", "┃"]
    assert row.split() == ["│", "1", "│", "2", "│"]
    out, _ = run(capsys, "sql", "select 1 as a, 2 as a", "--csv", "--lake", str(lake.root))
    assert out == "a,a_1\n1,2\n"


def test_the_demo_summary_prints_a_lake_path_with_brackets_literally():
    """`voice-monitor demo --lake '/tmp/d[/x]'` built the whole lake, then failed printing its
    summary (MarkupError, exit 1): contract §4 lets a lake path hold `[`."""
    from datetime import UTC, datetime

    from rich.console import Console

    from voice_monitor.cli.demo import _print

    at = datetime(2026, 2, 18, 12, tzinfo=UTC)
    summary = {
        "lake": "/tmp/d[/x] [bold]y", "days": 1, "start": at, "end": at,
        "generated": {"artifacts": 1, "organizations": 1, "incidents": {}, "late": 0},
        "landing": {"accepted": 1, "batches": 1, "duplicates": 0, "quarantined": 0,
                    "quarantine_reasons": {"bad value '[/z]'": 1}},
        "flows": {}, "realtime": {"window_end": at},
        "snapshots": {"daily": [], "hourly": [], "organizations": []},
        "alerts": {"raised": [], "resolved": []}, "seconds": {"total": 1.0}}
    console = Console(width=400, record=True)
    _print(console, summary)
    text = console.export_text()
    assert "/tmp/d[/x] [bold]y" in text and "bad value '[/z]'" in text
    # the commands it suggests can be pasted: the path is quoted for the shell
    assert "--lake '/tmp/d[/x] [bold]y' --start" in text


def test_sql_tables_show_the_microseconds_a_time_holds(lake, capsys):
    """`voice-monitor sql` plain tables cut every time to whole seconds: 14:05:09.903 showed as
    14:05:09 (two events 1 ms apart looked alike). A time shows its microseconds when it has
    any, as stored; a whole second stays as it was; --json is unchanged."""
    from datetime import timedelta

    land_records(lake, [
        event("artifact_received", NOW - timedelta(minutes=25) + timedelta(seconds=9.903),
              event_id="frac"),
        event("artifact_received", NOW, event_id="one-us",
              timestamp="2026-02-16T14:05:09.000001Z"),
        event("artifact_received", NOW - timedelta(minutes=25), event_id="whole")], now=NOW)
    query = "select event_id, timestamp from events order by event_id"
    out, _ = run(capsys, "sql", query, "--lake", str(lake.root))
    rows = [line.split() for line in out.splitlines() if "│" in line]
    assert rows == [["│", "frac", "│", "2026-02-16", "14:05:09.903000Z", "│"],
                    ["│", "one-us", "│", "2026-02-16", "14:05:09.000001Z", "│"],
                    ["│", "whole", "│", "2026-02-16", "14:05:00Z", "│"]]
    # a year before 1000 keeps four digits, as --json writes it ('1-01-01 00:00:00Z' it was)
    out, _ = run(capsys, "sql", "select timestamptz '0001-01-01 00:00:00+00' as t, "
                 "timestamp '0999-12-31 23:59:59.5' as u", "--lake", str(lake.root))
    rows = [line.split() for line in out.splitlines() if "│" in line]
    assert rows == [["│", "0001-01-01", "00:00:00Z", "│", "0999-12-31", "23:59:59.500000Z", "│"]]
    out, _ = run(capsys, "sql", query, "--json", "--lake", str(lake.root))
    assert json.loads(out) == [
        {"event_id": "frac", "timestamp": "2026-02-16T14:05:09.903000Z"},
        {"event_id": "one-us", "timestamp": "2026-02-16T14:05:09.000001Z"},
        {"event_id": "whole", "timestamp": "2026-02-16T14:05:00Z"}]
