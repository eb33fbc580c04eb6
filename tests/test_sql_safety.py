"""`voice-monitor sql` reads the lake and nothing else, unless --allow-writes; plain output is capped."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import NOW, assert_one_line_error, event, run_main, ts

from voice_monitor.adhoc import SqlRefusedError, run_query
from voice_monitor.health.alerts import run_checks
from voice_monitor.health.checks import AlertConfig
from voice_monitor.lake import Lake
from voice_monitor.landing import land_records
from voice_monitor.organizations import load_organizations
from voice_monitor.rollups import run_hourly

H13 = NOW.replace(hour=13, minute=10)  # inside the hour 13:00-14:00 that the rollup builds
SECRET = "TOPSECRET-4f9a"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A folder holding a lake and, beside it, a secret file the lake's SQL must not read."""
    home = tmp_path_factory.mktemp("sqlsafety")
    lake = Lake(home / "lake")
    records = [event("artifact_received", H13, organization_id="org-1") for _ in range(3)]
    records += [event("artifact_received", H13) for _ in range(2)]
    records += [event("circuit_breaker_opened", H13 + timedelta(minutes=40))]
    records += [{"event_id": "bad-1", "event_type": "no_such_type", "timestamp": ts(H13)}]
    land_records(lake, records, now=NOW)
    run_hourly(lake, NOW)
    run_checks(lake, NOW, AlertConfig(checks=("circuit_breaker_open",)))
    orgs = home / "orgs.csv"
    orgs.write_text("organization_id,name\norg-1,Acme\n")
    load_organizations(lake, orgs)
    (home / "secret.txt").write_text(f"{SECRET}\n")
    return home


def sql(capsys, home: Path, query: str, *options: str) -> tuple[int, str, str]:
    return run_main(capsys, "sql", query, "--lake", str(home / "lake"), *options)


def csv_rows(out: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(out)))


def files_under(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


# (query, a word the one-line error must contain); {home} and {lake} are absolute paths
ATTACKS = [
    ("select * from read_text('{home}/secret.txt')", "reads only the lake"),
    ("select * from read_csv('{home}/secret.txt')", "reads only the lake"),
    ("select * from read_text('{lake}/../secret.txt')", "reads only the lake"),
    ("select * from read_text('/etc/passwd')", "reads only the lake"),
    ("select * from glob('{home}/*')", "reads only the lake"),
    ("copy (select 1 as x) to '{home}/out.csv'", "COPY statement refused"),
    ("copy (select * from events limit 1) to "
     "'{lake}/events/date=2026-02-16/hour=13/forged.parquet'", "COPY statement refused"),
    ("select 1; copy (select 1 as x) to '{lake}/smuggled.csv'", "COPY statement refused"),
    ("explain analyze copy (select 1 as x) to '{lake}/explained.csv'", "EXPLAIN statement refused"),
    ("attach '{home}/evil.db' as evil", "ATTACH statement refused"),
    ("attach '{lake}/evil.db' as evil", "ATTACH statement refused"),
    ("export database '{home}/exported'", "EXPORT statement refused"),
    ("set enable_external_access = true", "SET statement refused"),
    ("reset allowed_directories", "statement refused"),
    ("install httpfs", "statement refused"),
    ("load httpfs", "statement refused"),
    ("create table t as select 1 as x", "CREATE statement refused"),
    ("pragma enable_profiling", "PRAGMA statement refused"),
]


@pytest.mark.parametrize("query, expected", ATTACKS)
def test_attacks_are_refused_in_one_line_and_write_nothing(home, capsys, query, expected):
    before = files_under(home)
    text = query.format(home=home, lake=(home / "lake").resolve())
    code, out, err = sql(capsys, home, text)
    assert_one_line_error(code, err, status=1)
    assert expected in err and SECRET not in out + err
    assert files_under(home) == before  # nothing written, in the lake or beside it
    code, out, _ = sql(capsys, home, "select count(*) as n from events", "--csv")
    assert (code, csv_rows(out)) == (0, [["n"], ["6"]])


def test_python_api_refuses_writes_with_a_value_error(home):
    with pytest.raises(SqlRefusedError, match="COPY statement refused"):
        run_query(Lake(home / "lake"), f"copy (select 1) to '{home}/api.csv'")
    assert not (home / "api.csv").exists()


# (query over one view, the rows it must return, worked out from the fixture by hand)
VIEW_QUERIES = [
    ("select count(*) from events", [["6"]]),
    ("select count(*) from quarantine", [["1"]]),
    ("select count(*) from losing_copies", [["0"]]),
    ("select artifacts_received from pipeline_hourly where organization_id is null", [["5"]]),
    ("select artifacts_received from pipeline_hourly where organization_id = 'org-1'", [["3"]]),
    ("select count(*) from stage_hourly where organization_id is null", [["4"]]),
    ("select count(*) from pipeline_daily", [["0"]]),
    ("select count(*) from stage_daily", [["0"]]),
    ("select distinct alert_type from alerts", [["circuit_breaker_open"]]),
    ("select organization_id, name from organizations", [["org-1", "Acme"]]),
]


@pytest.mark.parametrize("query, rows", VIEW_QUERIES)
def test_every_view_still_reads(home, capsys, query, rows):
    code, out, err = sql(capsys, home, query, "--csv")
    assert code == 0, err
    assert csv_rows(out)[1:] == rows


def test_describe_show_and_summarize_are_reads(home, capsys):
    for query in ("describe events", "show tables", "summarize events",
                  "with t as (from events) select count(*) from t"):
        code, _, err = sql(capsys, home, query, "--json")
        assert code == 0 and err == "", (query, err)


def test_plain_output_is_capped_at_1000_rows_and_says_so(home, capsys):
    code, out, err = sql(capsys, home, "select i from range(1500) t(i)")
    assert code == 0
    shown = [int(n) for n in re.findall(r"^│ (\d+)\s+│$", out, flags=re.M)]
    assert shown == list(range(1000))
    assert err.strip() == ("voice-monitor: showing the first 1,000 rows; more exist: pass "
                           "--limit N for more (0 = all), or --json/--csv")

    code, out, err = sql(capsys, home, "select i from range(1000) t(i)")  # exactly the cap
    assert code == 0 and err == ""
    assert len(re.findall(r"^│ \d+\s+│$", out, flags=re.M)) == 1000

    code, out, err = sql(capsys, home, "select i from range(1500) t(i)", "--limit", "0")
    assert code == 0 and err == ""
    assert len(re.findall(r"^│ \d+\s+│$", out, flags=re.M)) == 1500


def test_several_statements_show_the_last_ones_rows_and_say_so(home, capsys):
    # "select 1; select 2" printed 2 alone, as if the first had not been asked
    for options in ((), ("--json",), ("--csv",)):
        code, out, err = sql(capsys, home, "select 1 as a; select 2 as b;", *options)
        assert code == 0 and "1" not in out and "2" in out, (options, out)
        assert err == ("voice-monitor: ran 2 statements; shown: the rows of the last one only "
                       "(run each on its own to see its rows)\n"), options
    assert run_query(Lake(home / "lake"), "select 1; select 2").statements == 2
    code, out, err = sql(capsys, home, "select 2 as b;", "--json")  # one statement: no note
    assert code == 0 and err == ""


def test_json_and_csv_are_whole_unless_limited(home, capsys):
    code, out, err = sql(capsys, home, "select i from range(1500) t(i)", "--json")
    assert code == 0 and err == "" and [r["i"] for r in json.loads(out)] == list(range(1500))
    code, out, err = sql(capsys, home, "select i from range(1500) t(i)", "--csv")
    assert code == 0 and err == "" and len(csv_rows(out)) == 1501
    code, out, err = sql(capsys, home, "select i from range(1500) t(i)", "--csv", "--limit", "7")
    assert code == 0 and csv_rows(out)[1:] == [[str(i)] for i in range(7)]
    assert "showing the first 7 rows" in err and len(err.strip().splitlines()) == 1


def test_a_bad_limit_is_a_usage_error(home, capsys):
    code, _, err = sql(capsys, home, "select 1", "--limit", "-1")
    assert_one_line_error(code, err, status=2)


def test_a_limit_beyond_64_bits_keeps_every_row(home, capsys):
    # it failed with "TypeError: fetchmany(): incompatible function arguments"
    for limit in ("9223372036854775807", "99999999999999999999"):
        code, out, err = sql(capsys, home, "select i from range(3) t(i)", "--json", "--limit", limit)
        assert code == 0 and err == "" and [r["i"] for r in json.loads(out)] == [0, 1, 2]


def test_allow_writes_is_the_trusted_opt_out(home, capsys, tmp_path):
    target = tmp_path / "exported.csv"
    code, _, err = sql(capsys, home, f"copy (select 42 as answer) to '{target}'", "--allow-writes")
    assert code == 0, err
    assert target.read_text().splitlines() == ["answer", "42"]
    code, out, err = sql(capsys, home, f"select * from read_text('{home}/secret.txt')",
                         "--allow-writes", "--json")
    assert code == 0 and SECRET in json.loads(out)[0]["content"]


def test_catalog_writes_only_where_asked_and_never_over_data(home, capsys, tmp_path):
    lake = str(home / "lake")
    data = tmp_path / "events.jsonl"
    data.write_text('{"event_id": "keep-me"}\n')
    before = files_under(home)
    for target, expected in [
        (data, "is not a DuckDB database"),
        (home / "lake" / "events" / "catalog.duckdb", "inside the lake's events/ folder"),
        (home / "lake" / "snapshots" / "x" / "c.duckdb", "inside the lake's snapshots/ folder"),
    ]:
        code, _, err = run_main(capsys, "catalog", str(target), "--lake", lake)
        assert_one_line_error(code, err, status=1)
        assert expected in err
    assert data.read_text() == '{"event_id": "keep-me"}\n' and files_under(home) == before

    target = tmp_path / "monitor.duckdb"
    for _ in range(2):  # a second run replaces the first catalog
        code, _, err = run_main(capsys, "catalog", str(target), "--lake", lake)
        assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "monitor.duckdb"]
    assert files_under(home) == before


def test_an_empty_catalog_path_is_a_usage_error_not_the_default(home, capsys):
    # `catalog "$OUT"` with OUT unset wrote <lake>/catalog.duckdb, a path nobody gave
    code, out, err = run_main(capsys, "catalog", "", "--lake", str(home / "lake"))
    assert_one_line_error(code, err, status=2)
    assert "catalog path '' is empty; name a file, e.g. ./catalog.duckdb" in err
    assert not (home / "lake" / "catalog.duckdb").exists()


def test_the_working_directorys_tmp_folder_is_not_readable(home, capsys, tmp_path, monkeypatch):
    """DuckDB lets a query read its temp directory whatever allowed_directories says, and its
    default is `.tmp/` of the working directory: a file there was readable by `sql`."""
    import tempfile

    work = tmp_path / "work"
    (work / ".tmp").mkdir(parents=True)
    (work / ".tmp" / "notes.txt").write_text(SECRET)
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the private spill folder goes
    for path in (".tmp/notes.txt", str(work / ".tmp" / "notes.txt")):
        code, out, err = run_main(capsys, "sql", f"select content from read_text('{path}')",
                                  "--lake", str(home / "lake"))
        assert_one_line_error(code, err, status=1)
        assert "reads only the lake's files" in err and SECRET not in out + err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]  # the spill folder is removed


def _first_column(out: str) -> str:
    """The first column's text of a one-row table, its folded lines joined, spaces dropped."""
    cells = re.findall(r"^│ (.*?) +│", out, flags=re.M)  # the header has ┃, not │
    return "".join(cells).replace(" ", "")


def test_plain_output_cuts_a_long_value_and_says_so_json_keeps_it_whole(home, capsys):
    # 3,000,000 characters: the table shows the first 2,000 (1,000 times 'ab'), then how long
    # the value is; one stderr line says how to get the whole value
    code, out, err = sql(capsys, home, "select repeat('ab', 1500000) as v, 'short' as s")
    assert code == 0
    assert _first_column(out) == "ab" * 1000 + "…[cut:first2,000of3,000,000characters]"
    assert "short" in out and len(out) < 10_000
    assert err.strip() == (
        "voice-monitor: 1 value longer than 2,000 characters cut in the table (longest "
        "3,000,000); for the whole value pass --json (or --csv), or select a part in SQL: "
        "left(col, n), substr(col, start, n), length(col)")

    code, out, err = sql(capsys, home, "select repeat('ab', 1500000) as v", "--json")
    assert code == 0 and err == "" and json.loads(out) == [{"v": "ab" * 1500000}]


def test_a_value_of_exactly_the_cell_cap_is_whole_one_more_is_cut(home, capsys):
    code, out, err = sql(capsys, home, "select repeat('x', 2000) as v")
    assert code == 0 and err == "" and _first_column(out) == "x" * 2000
    code, out, err = sql(capsys, home,
                         "select repeat('x', 2001) as v union all select repeat('y', 5000)")
    assert code == 0
    assert out.count("x") == 2000 and out.count("y") == 2000
    assert err.startswith("voice-monitor: 2 values longer than 2,000 characters cut in the "
                          "table (longest 5,000); ")


def test_a_table_over_its_budget_cuts_its_longest_cells_to_one_length():
    # the budget is TABLE_LINES (100,000) lines of the columns' even width: 10 columns leave
    # (200 - 3 * 10 - 1) // 10 = 16 characters each, so 1,600,000 characters. 1,000 rows of
    # 10 values of 4,000 (took ~35 s): each cut to 1,600,000 / 10,000 = 160
    from voice_monitor.cli.queries import cell_cap

    assert cell_cap([4000] * 10_000, 10) == 160
    # 50 columns are 1 character wide: 100,000 characters over 100 rows of 50 (took ~340 s)
    assert cell_cap([4000] * 5_000, 50) == 20
    # short values are never cut for long ones: 9,000 of 10 characters (90,000) stay whole,
    # the 1,000 long ones share the rest, (1,600,000 - 90,000) / 1,000 = 1,510 each
    assert cell_cap([10] * 9_000 + [4000] * 1_000, 10) == 1510
    # within the budget: the per-cell cap alone (800 cells of 2,000 = 1,600,000 exactly)
    assert cell_cap([2000] * 800, 10) == 2000 and cell_cap([2000] * 801, 10) < 2000
    # never below 16 characters (1,000 rows of 50 columns: 2 by the budget)
    assert cell_cap([4000] * 50_000, 50) == 16


def test_plain_output_of_a_table_over_its_budget_says_how_far_it_cut(home, capsys, monkeypatch):
    # a budget of 1,000 lines of 16 characters (10 columns): 16,000 characters; 20 rows of 10
    # values of 200 characters (40,000) are each cut to 16,000 / 200 = 80, marked '…'
    from voice_monitor.cli import queries as cli_queries

    monkeypatch.setattr(cli_queries, "TABLE_LINES", 1000)
    columns = ", ".join(f"repeat('x', 200) as c{i}" for i in range(10))
    code, out, err = sql(capsys, home, f"select {columns} from range(20)")
    assert code == 0
    assert out.count("x") == 20 * 10 * 80 and out.count("…") == 20 * 10
    assert err.strip() == (
        "voice-monitor: 200 values cut to their first 80 characters to keep this table of 20 "
        "rows and 10 columns quick to print (longest 200); for the whole value pass --json (or "
        "--csv), or select a part in SQL: left(col, n), substr(col, start, n), length(col)")
    code, out, err = sql(capsys, home, f"select {columns} from range(20)", "--csv")
    assert code == 0 and err == "" and out.count("x") == 20 * 10 * 200
