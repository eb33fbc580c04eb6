"""Any lake path works literally (contract §4): `[`, `]`, `*`, `?` and spaces included.

DuckDB expands `*`, `?` and `[…]` in every path it reads, so a lake at `x/a b[1]*?` would read a
decoy lake at `x/a b1xyz` (`[1]` matches "1", `*` "xy", `?` "z"). The decoy here holds other
events; every command must see only the real lake.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import duckdb
import pytest
from conftest import NOW, event, run_main

from voice_monitor import recent_events
from voice_monitor.lake import Lake, duckdb_path
from voice_monitor.landing import land_records

H = timedelta(hours=1)
NOW_ARG = "2026-02-16T14:30:00Z"


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    return run_main(capsys, *argv)


@pytest.fixture
def lakes(tmp_path):
    """(real lake, decoy): 3 events at 13:xx in the real lake, 5 in the decoy the glob matches."""
    real, decoy = Lake.create(tmp_path / "a b[1]*?"), Lake.create(tmp_path / "a b1xyz")
    land_records(real, [event("artifact_received", NOW - 80 * timedelta(minutes=1) + i * H / 10)
                        for i in range(3)], now=NOW)
    land_records(decoy, [event("artifact_received", NOW - 80 * timedelta(minutes=1) + i * H / 10)
                         for i in range(5)], now=NOW)
    return real, decoy


def test_duckdb_path_matches_only_itself(lakes):
    real, _ = lakes
    (file,) = real.event_files(NOW - H)
    con = duckdb.connect()
    names = con.execute("select distinct filename from read_parquet(?, filename = true)",
                        [f"{duckdb_path(real.events_dir)}/*/*/*.parquet"]).fetchall()
    assert names == [(str(file),)]


def test_every_reader_sees_only_the_real_lake(lakes, tmp_path, capsys):
    real, decoy = lakes
    lake = ["--lake", str(real.root)]
    code, out, err = run_cli(["rollup", "hourly", *lake, "--now", NOW_ARG], capsys)
    assert code == 0, err
    code, out, err = run_cli(["sql", "select count(*) as n from events", "--json", *lake], capsys)
    assert code == 0, err
    assert json.loads(out)[0]["n"] == 3
    code, out, err = run_cli(["sql", "select artifacts_received from pipeline_hourly "
                              "where organization_id is null", "--json", *lake], capsys)
    assert code == 0, err
    assert [row["artifacts_received"] for row in json.loads(out)] == [3]
    code, out, err = run_cli(["events", "recent", "--json", *lake], capsys)
    assert code == 0, err
    assert len(json.loads(out)["rows"]) == 3
    assert recent_events(real).rows.height == 3
    # the compacted hour holds the real lake's 3 events, not the decoy's
    code, out, err = run_cli(["compact", *lake, "--now", NOW_ARG], capsys)
    assert code == 0, err
    (compacted,) = real.event_files(NOW - H)
    assert duckdb.connect().execute("select count(*) from read_parquet(?)",
                                    [duckdb_path(compacted)]).fetchall() == [(3,)]
    assert len(decoy.event_files(NOW - H)) == 1


def test_the_catalog_over_a_strange_path_opens_in_plain_duckdb(lakes, tmp_path, capsys):
    real, _ = lakes
    run_cli(["rollup", "hourly", "--lake", str(real.root), "--now", NOW_ARG], capsys)
    target = tmp_path / "cat [x]?.duckdb"
    code, out, err = run_cli(["catalog", str(target), "--lake", str(real.root)], capsys)
    assert code == 0, err
    con = duckdb.connect(str(target), read_only=True)
    assert con.execute("select count(*) from events").fetchall() == [(3,)]
    assert con.execute("select artifacts_received from pipeline_hourly "
                       "where organization_id is null").fetchall() == [(3,)]


def test_the_default_catalog_in_a_lake_whose_path_holds_a_question_mark_is_written(lakes,
                                                                                   capsys):
    # the default target is <lake>/catalog.duckdb: DuckDB put its write-ahead log at the path
    # cut at the first '?' ('.../a b[1]*.wal?/...', no such folder) and the catalog failed
    real, _ = lakes
    code, out, err = run_cli(["catalog", "--lake", str(real.root)], capsys)
    assert code == 0, err
    target = real.root / "catalog.duckdb"
    assert out.startswith(f"wrote {target} with views: ")
    con = duckdb.connect(str(target), read_only=True)
    assert con.execute("select count(*) from events").fetchall() == [(3,)]
    con.close()
    assert sorted(p.name for p in real.root.iterdir() if p.name.startswith(".catalog")) == []


def test_ingest_reads_a_parquet_file_with_glob_characters_in_its_name(lakes, tmp_path, capsys):
    real, decoy = lakes
    # `in[1].parquet` as a glob matches only the decoy `in1.parquet` (5 events), not itself (3)
    source = tmp_path / "in[1].parquet"
    shutil.copy(real.event_files(NOW - H)[0], source)
    shutil.copy(decoy.event_files(NOW - H)[0], tmp_path / "in1.parquet")
    other = Lake.create(tmp_path / "copy")
    code, out, err = run_cli(["ingest", str(source), "--lake", str(other.root), "--now", NOW_ARG,
                              "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["accepted"] == 3


def test_a_key_like_folder_above_the_lake_is_not_read_as_a_partition_key(tmp_path, capsys):
    # the same event id on two days is two events (a copy is the same id in the same hour
    # partition); if DuckDB took `date` from the folder above the lake, both would be dated
    # 1999-01-01 and counted once
    lake = Lake.create(tmp_path / "date=1999-01-01" / "env=prod [1]")
    land_records(lake, [event("artifact_received", NOW - 24 * H, event_id="same"),
                        event("artifact_received", NOW, event_id="same")], now=NOW)
    code, out, err = run_cli(["sql", "select date::varchar as d, hour, count(*) as n from events "
                              "group by all order by d", "--json", "--lake", str(lake.root)],
                             capsys)
    assert code == 0, err
    assert json.loads(out) == [{"d": "2026-02-15", "hour": 14, "n": 1},
                               {"d": "2026-02-16", "hour": 14, "n": 1}]
    code, out, err = run_cli(["sql", "select column_name from (describe events)", "--json",
                              "--lake", str(lake.root)], capsys)
    assert "env" not in {row["column_name"] for row in json.loads(out)}
