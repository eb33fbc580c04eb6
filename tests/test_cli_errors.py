"""No traceback reaches a user: forged cursors and bad arguments are one line on stderr, exit != 0.

Cursors are forged the way an attacker would: take a real cursor, change the position inside,
and recompute the (non-secret) checksum with hashlib, independently of the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import click
import pytest
from conftest import NOW, assert_one_line_error, event, run_main

from voice_monitor.cli import cli
from voice_monitor.health.alerts import alert_history, run_checks
from voice_monitor.health.checks import AlertConfig
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.pagination import CursorError
from voice_monitor.queries import active_artifacts, failed_artifacts, recent_events

CLI = str(Path(sys.executable).parent / "voice-monitor")
M = timedelta(minutes=1)
AT = "2026-02-16T14:30:00Z"  # NOW


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    """Two organizations at 15 % failures (three alerts), three artifacts still in flight."""
    lake = Lake(tmp_path_factory.mktemp("errors") / "lake")
    records = []
    for org in ("org-a", "org-b"):
        records += [event("artifact_completed", NOW - 5 * M, organization_id=org,
                          artifact_id=f"{org}-ok-{k}") for k in range(17)]
        records += [event("artifact_failed", NOW - 5 * M - k * M, organization_id=org,
                          artifact_id=f"{org}-bad-{k}") for k in range(3)]
    records += [event("artifact_received", NOW - k * M, artifact_id=f"open-{k}") for k in range(3)]
    land_records(lake, records, now=NOW)
    assert len(run_checks(lake, NOW, AlertConfig(checks=("high_failure_rate",))).raised) == 3
    return lake


# -- forging ---------------------------------------------------------------------------------

def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def forge_page_cursor(real: str, **changes) -> str:
    """A query-page cursor with fields changed and a valid sha256 checksum."""
    body = json.loads(_b64decode(real))
    body.pop("c")
    body.update(changes)
    body["c"] = hashlib.sha256(_canonical(body).encode()).hexdigest()[:16]
    return _b64encode(_canonical(body).encode())


BAD_KEYS = [10**30, -(10**30), 2**63, "2026", 1.5, True, None, [], {}, [1], ["x", "y"],
            [1.5, "x"], [True, "x"], [10**30, "x"], [-(10**30), "x"], [253_402_300_800_000_000, "x"],
            [1, 2], [1, None], [1, ["x"]], [1, "x", 3], [[1], "x"], {"0": 1, "1": "x"},
            [1, "x" * 5000]]


def page_forgeries(real: str) -> list[str]:
    forged = [forge_page_cursor(real, k=key) for key in BAD_KEYS]
    forged += [forge_page_cursor(real, v=bad) for bad in ({"x": 1}, [1], "1", 10**40)]
    forged += [forge_page_cursor(real, q=bad) for bad in (None, 7, ["recent_events"])]
    forged += [forge_page_cursor(real, f=bad) for bad in (None, 7, {"a": 1})]
    body = json.loads(_b64decode(real))
    del body["k"]
    forged.append(forge_page_cursor(_b64encode(_canonical(body).encode())))
    # bodies that are not objects at all cannot carry a checksum: forged raw
    forged += [_b64encode(json.dumps(b).encode()) for b in ([1, 2], "x", 5, None, [[[[]]]])]
    return forged


PAGED = {
    # name: (Python call with a cursor, CLI words)
    "events recent": (lambda lake, c: recent_events(lake, limit=1, cursor=c),
                      ["events", "recent", "--limit", "1"]),
    "artifacts failed": (lambda lake, c: failed_artifacts(lake, limit=1, cursor=c),
                         ["artifacts", "failed", "--limit", "1"]),
    "artifacts active": (lambda lake, c: active_artifacts(lake, limit=1, cursor=c, now=NOW),
                         ["artifacts", "active", "--limit", "1", "--now", AT]),
    "alerts history": (lambda lake, c: alert_history(lake, limit=1, cursor=c),
                       ["alerts", "history", "--limit", "1"]),
}


@pytest.mark.parametrize("name", PAGED)
def test_forged_cursors_are_one_line_errors(lake, capsys, name):
    call, words = PAGED[name]
    real = call(lake, None).next_cursor
    assert real, f"{name} needs a second page for this test"
    call(lake, real)  # the real cursor works
    forged = page_forgeries(real)
    for cursor in forged:
        with pytest.raises(CursorError, match="cursor"):
            call(lake, cursor)
    for cursor in forged[::3]:  # the CLI path is the same function; a sample keeps this fast
        code, _, err = run_main(capsys, *words, "--cursor", cursor, "--lake", str(lake.root))
        assert_one_line_error(code, err, status=1)
        assert "cursor" in err


def test_forged_cursor_in_a_real_process_is_one_line(lake):
    real = recent_events(lake, limit=1).next_cursor
    forged = forge_page_cursor(real, k=[10**30, "x"])
    out = subprocess.run([CLI, "events", "recent", "--cursor", forged, "--lake", str(lake.root)],
                         capture_output=True, text=True, timeout=120)
    assert_one_line_error(out.returncode, out.stderr, status=1)
    assert "bad cursor" in out.stderr


# -- every command, a bad argument -----------------------------------------------------------

def leaf_commands(group: click.Group = cli, ctx=None, prefix=()) -> list[tuple[str, ...]]:
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found += leaf_commands(command, ctx, (*prefix, name))
        elif command is not None:
            found.append((*prefix, name))
    return found


def bad_arguments(lake: Lake, tmp: Path) -> dict[tuple[str, ...], list[str]]:
    """For each command, arguments that are wrong in a way the command itself must catch."""
    a_file = tmp / "a-file.txt"
    a_file.write_text("not a lake\n")
    bad_json = tmp / "bad.json"
    bad_json.write_text('{"unterminated": ')
    return {
        ("ingest",): [str(tmp / "missing.jsonl")],
        ("metrics", "realtime"): ["--now", "yesterday"],
        ("metrics", "historical"): ["--start", "2026-02-16T00:00Z", "--end", "2026-02-15T00:00Z"],
        ("metrics", "stages"): ["--start", "2026-02-16T00:00Z", "--end", "2026-02-15T00:00Z"],
        ("metrics", "orgs"): ["--start", "2026-02-16T00:00Z", "--end", "2026-02-15T00:00Z"],
        ("rollup", "hourly"): ["--hour", "2026-02-30T25"],
        ("rollup", "daily"): ["--day", "2026-13-01"],
        ("backfill",): ["--start", "2026-02-16T00:00Z", "--end", "2026-02-15T00:00Z"],
        ("retention",): ["--only", "everything"],
        ("events", "recent"): ["--type", "no_such_event"],
        ("events", "timeline"): ["art\x00"],
        ("artifacts", "failed"): ["--limit", "0"],
        ("artifacts", "active"): ["--cursor", "garbage"],
        ("sql",): ["select * from no_such_view"],
        ("catalog",): [str(a_file / "catalog.duckdb")],
        ("compact",): ["--grace-hours", "soon"],
        ("orgs", "load"): [str(bad_json)],
        ("alerts", "check"): ["--now", "2026-02-16T99:00Z"],
        ("alerts", "list"): ["--limit", "1"],
        ("alerts", "history"): ["--start", "2026-02-16T00:00Z", "--end", "2026-02-15T00:00Z"],
        ("alerts", "ack"): ["no-such-alert", "--by", "alice"],
        ("demo",): ["--days", "0"],
        ("init",): [str(a_file)],
        ("serve",): ["--port", "70000"],
    }


def test_every_command_refuses_a_bad_argument_in_one_line(lake, tmp_path, capsys):
    known = bad_arguments(lake, tmp_path)
    commands = leaf_commands()
    assert set(known) <= set(commands)  # the table names real commands
    for words in commands:
        cases = [["--no-such-option"]] + ([known[words]] if words in known else [])
        for args in cases:
            code, _, err = run_main(capsys, *words, *args, "--lake", str(lake.root))
            assert_one_line_error(code, err)


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(lake, capsys, monkeypatch):
    def explode(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("voice_monitor.queries.failed_artifacts", explode)
    code, _, err = run_main(capsys, "artifacts", "failed", "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert "ZeroDivisionError: boom" in err and "--debug" in err

    code, _, err = run_main(capsys, "--debug", "artifacts", "failed", "--lake", str(lake.root))
    assert code == 1 and "Traceback" in err and "ZeroDivisionError: boom" in err
    code, _, err = run_main(capsys, "artifacts", "failed", "--lake", str(lake.root), "--debug")
    assert code == 1 and "Traceback" in err  # --debug after the command works too

    monkeypatch.setenv("VOICE_MONITOR_DEBUG", "1")
    code, _, err = run_main(capsys, "artifacts", "failed", "--lake", str(lake.root))
    assert code == 1 and "Traceback" in err


def test_ctrl_c_is_one_line_and_exit_130(lake, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("voice_monitor.queries.failed_artifacts", interrupted)
    code, _, err = run_main(capsys, "artifacts", "failed", "--lake", str(lake.root))
    assert code == 130 and err.strip() == "voice-monitor: interrupted"  # click adds a newline


def test_a_corrupt_lake_file_is_never_a_traceback(tmp_path, capsys):
    """Whatever DuckDB or Arrow raise over a truncated Parquet file reaches the user as one line."""
    lake = Lake(tmp_path / "lake")
    land_records(lake, [event("artifact_received", NOW - 60 * M, artifact_id="a1")], now=NOW)
    (good,) = lake.event_files(NOW - 60 * M)
    (good.parent / "00000000000000000000-truncated.parquet").write_bytes(good.read_bytes()[:40])
    for words in (["events", "recent"], ["events", "timeline", "a1"], ["artifacts", "failed"],
                  ["sql", "select count(*) from events"], ["metrics", "realtime"],
                  ["rollup", "hourly", "--hour", "2026-02-16T13", "--now", AT],
                  ["compact", "--now", AT], ["alerts", "check", "--now", AT]):
        code, _, err = run_main(capsys, *words, "--lake", str(lake.root))
        assert "Traceback" not in err, words
        if code != 0:
            assert_one_line_error(code, err)


def test_alerts_check_failing_prints_one_line_on_stderr_in_a_real_process(tmp_path):
    """Library log records (alert raised, check failed) stay off stderr; --debug shows them."""
    lake = Lake(tmp_path / "lake")
    land_records(lake, [event("circuit_breaker_opened", NOW - 3 * M)], now=NOW)
    land_records(lake, [event("artifact_received", NOW - 90 * M)], now=NOW)
    (good,) = lake.event_files(NOW - 3 * M)
    (good.parent / "00000000000000000000-truncated.parquet").write_bytes(good.read_bytes()[:40])
    args = ["alerts", "check", "--now", AT, "--lake", str(lake.root)]
    out = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)
    assert_one_line_error(out.returncode, out.stderr, status=1)
    assert "check(s) failed" in out.stderr
    out = subprocess.run([CLI, "--debug", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "Traceback" in out.stderr
    assert "ERROR voice_monitor.health.alerts: check" in out.stderr  # the log, shown under --debug


def test_alerts_check_with_a_malformed_webhook_url_records_then_exits_1(tmp_path, capsys, monkeypatch):
    """Every check runs and its alert is stored; then one line names the setting, its problem
    and the fix, without the URL's path (a webhook's credential)."""
    lake = Lake.create(tmp_path / "lake")
    land_records(lake, [event("circuit_breaker_opened", NOW - M),
                        event("artifact_received", NOW - M)], now=NOW)
    monkeypatch.setenv("VOICE_MONITOR_WEBHOOK_URL", "https://hooks.example.com:99999/T0/secret-path")
    code, out, err = run_main(capsys, "alerts", "check", "--lake", str(lake.root),
                              "--now", "2026-02-16T14:30:00Z")
    assert_one_line_error(code, err, status=1)
    assert out.splitlines()[0] == "checked 7 of 7: raised 1, resolved 0, active 1"
    assert "webhook_url 'https://hooks.example.com:99999/****'" in err
    assert "port 99999 is not 1-65535" in err and "e.g. https://hooks.slack.com/services/" in err
    assert "secret-path" not in err + out
    # only the breaker fires (one artifact in flight, under 20 outcomes, no latency baseline)
    assert [(a.alert_type, a.status) for a in alert_history(lake).alerts] == [
        ("circuit_breaker_open", "active")]


@pytest.mark.parametrize(("words", "option"), [(("rollup", "hourly"), "--hour"),
                                               (("rollup", "daily"), "--day"),
                                               (("metrics", "realtime"), "--now")])
def test_the_example_a_bad_time_names_is_itself_accepted(lake, capsys, words, option):
    """`rollup hourly --hour garbage` said "use e.g. 2026-02-16T14:30:00Z", which --hour then
    refused ("is not the start of an hour"): the fix a message names must work."""
    code, _, err = run_main(capsys, *words, option, "garbage", "--lake", str(lake.root))
    assert_one_line_error(code, err, status=2)
    example = err.split("e.g. ")[1].split()[0].rstrip(")(;,")
    code, _, err = run_main(capsys, *words, option, example, "--lake", str(lake.root))
    assert "usage error" not in err, err


@pytest.mark.parametrize("words", [("events", "recent"), ("artifacts", "failed"), ("artifacts", "active")])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_page_limit_below_one_is_a_usage_error_naming_it(lake, capsys, words, value):
    # exit 2 like every other bad option value (alerts history --limit 0, --limit abc), was 1
    code, out, err = run_main(capsys, *words, "--limit", value, "--lake", str(lake.root))
    assert_one_line_error(code, err, status=2)
    assert "'--limit'" in err and f"limit {value} " in err and "e.g. 50" in err and out == ""


@pytest.mark.parametrize("words", [("events", "timeline", "org-a-bad-1"), ("metrics", "historical"),
                                   ("metrics", "orgs")])
def test_a_row_limit_past_two_to_the_64_gives_every_row(lake, capsys, words):
    # was 'voice-monitor: error: OverflowError: int too big to convert', exit 1; sql gave all rows
    code, out, err = run_main(capsys, *words, "--limit", str(2**70), "--json", "--now", AT,
                              "--lake", str(lake.root))
    assert code == 0 and "OverflowError" not in err, err
    if words[0] == "events":  # one event landed for this artifact, at NOW - 6 minutes
        rows = json.loads(out)
        assert [(r["event_type"], r["artifact_id"]) for r in rows] == [("artifact_failed", "org-a-bad-1")]


def test_a_negative_demo_seed_is_a_usage_error_and_nothing_is_written(tmp_path, capsys):
    # was 'voice-monitor: error: expected non-negative integer' (numpy's), exit 1, after the
    # demo lake's folders were made and its progress bar drawn
    target = tmp_path / "demo"
    code, out, err = run_main(capsys, "demo", "--lake", str(target), "--seed", "-1")
    assert_one_line_error(code, err, status=2)
    assert "'--seed'" in err and "-1" in err and out == ""
    assert not target.exists()


@pytest.mark.parametrize("words", [("metrics", "historical"), ("metrics", "stages"), ("metrics", "orgs"),
                                   ("events", "recent"), ("alerts", "history")])
def test_an_end_not_after_the_start_is_a_usage_error_naming_both(lake, capsys, words):
    # was the library's 'error: bad time range: …', exit 1, where backfill's is a usage error
    code, out, err = run_main(capsys, *words, "--start", "2026-02-16T00:00Z", "--end",
                              "2026-02-15T00:00Z", "--lake", str(lake.root))
    assert_one_line_error(code, err, status=2)
    assert "--end 2026-02-15T00:00:00Z is not after --start 2026-02-16T00:00:00Z" in err
    assert "swap them" in err and out == ""


_NO_ID = ("is not a valid id; expected 1-256 characters without control characters "
          "(U+0000-U+001F, U+007F-U+009F, U+2028, U+2029) or lone surrogates")


@pytest.mark.parametrize(("argv", "named", "words"), [
    (("events", "recent", "--type", "no_such_event"), "'--type'",
     "unknown event type 'no_such_event'; expected one of artifact_received, "),
    (("events", "recent", "--type", "artifact_failed,retry_failed"), "'--type'",
     "event type 'artifact_failed,retry_failed' is several types in one value; give each on "
     "its own: repeat --type"),
    (("events", "recent", "--stage", "cooking"), "'--stage'",
     "unknown pipeline stage 'cooking'; expected one of ingestion, transcription, "),
    (("events", "recent", "--org", ""), "'--org'", f"organization_id '' {_NO_ID}"),
    (("events", "recent", "--artifact", "a\tb"), "'--artifact'", f"artifact_id 'a\\tb' {_NO_ID}"),
    (("events", "timeline", ""), "'ARTIFACT_ID'", f"artifact_id '' {_NO_ID}"),
    (("metrics", "realtime", "--org", ""), "'--org'", f"organization_id '' {_NO_ID}"),
    (("metrics", "historical", "--org", "x" * 257), "'--org'", f"organization_id '{'x' * 257}' {_NO_ID}"),
    (("metrics", "stages", "--org", ""), "'--org'", f"organization_id '' {_NO_ID}"),
    (("alerts", "history", "--org", "a\nb"), "'--org'", f"organization_id 'a\\nb' {_NO_ID}"),
])
def test_a_bad_type_stage_or_id_is_a_usage_error_in_the_librarys_words(lake, capsys, argv,
                                                                        named, words):
    # was the library's ValueError, exit 1, after the lake was opened, while every other bad
    # option value (alerts history --type, --status, --limit 0, a reversed range) is exit 2
    code, out, err = run_main(capsys, *argv, "--lake", str(lake.root))
    assert_one_line_error(code, err, status=2)
    assert err.startswith(f"voice-monitor: usage error: Invalid value for {named}: {words}")
    assert out == ""
