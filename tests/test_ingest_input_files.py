"""`ingest` on files that are plainly no input format: an error naming the file, not garbage
quarantined line by line with exit 0 (a gzip'd JSON Lines file once "landed" as
"accepted 0, quarantined 8")."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import NOW, assert_one_line_error, event, run_main, ts

from voice_monitor.lake import connect


def _stored(lake) -> list[str]:
    return sorted(p.relative_to(lake.root).as_posix()
                  for p in lake.root.rglob("*.parquet"))


def test_a_gzip_file_is_refused_naming_it_and_the_fix(capsys, lake, tmp_path):
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress(json.dumps(event("artifact_received", NOW)).encode() + b"\n"))
    code, _, err = run_main(capsys, "ingest", str(path), "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert f"'{path}' is gzip-compressed" in err and "gunzip -k" in err
    assert _stored(lake) == []  # nothing landed, nothing quarantined


def test_a_parquet_file_without_the_magic_bytes_is_refused(capsys, lake, tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"\x00\x07not parquet at all\n\xff\xfe\n")
    code, _, err = run_main(capsys, "ingest", str(path), "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert f"cannot read Parquet file '{path}'" in err and "PAR1" in err
    assert "write it again from its source" in err and "a .jsonl or .json name" in err
    assert _stored(lake) == []


def test_the_same_bytes_as_json_lines_are_two_quarantined_lines(capsys, lake, tmp_path):
    path = tmp_path / "broken.jsonl"  # unparseable lines of a JSON Lines file: quarantined raw
    path.write_bytes(b"\x00\x07not parquet at all\n\xff\xfe\n")
    code, out, err = run_main(capsys, "ingest", str(path), "--lake", str(lake.root))
    assert out.strip() == "accepted 0 (of which duplicate 0), quarantined 2"
    assert code == 0  # quarantined records are no failure; no record of it is JSON: see below
    assert f"warning: '{path}' holds no JSON object (its 2 records are kept in quarantine;" in err


def _quarantined(lake) -> list[tuple[str, str, str]]:
    files = [str(p) for p in lake.root.rglob("quarantine/**/*.parquet")]
    rows = connect().sql("select source, raw, reason from read_parquet($f)", params={"f": files})
    return sorted(rows.fetchall())


def test_a_file_none_of_whose_records_is_json_is_named_in_a_warning(capsys, lake, tmp_path):
    # a CSV export given by mistake: every line quarantined as "not valid JSON" and only
    # "accepted 0, quarantined 3", which read as success; still exit 0 (contract §11: quarantined
    # records are not a failure), with one warning line naming the file and the fix
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(event("artifact_received", NOW, event_id="g-1")) + "\n")
    csv = tmp_path / "events.csv"
    csv.write_text(f"event_id,event_type,timestamp\nc-1,artifact_received,{ts(NOW)}\n"
                   f"c-2,artifact_received,{ts(NOW)}\n")
    code, out, err = run_main(capsys, "ingest", str(good), str(csv), "--lake", str(lake.root),
                              "--now", ts(NOW))
    assert out == "accepted 1 (of which duplicate 0), quarantined 3\n"  # every file landed
    assert code == 0
    assert err == (f"voice-monitor: warning: '{csv}' holds no JSON object (its 3 records are "
                   "kept in quarantine; do not ingest it again as it is): ingest reads JSON "
                   "Lines, a JSON array or Parquet; convert it to one of those (or, cut short, "
                   "write it again whole from its source) and ingest that\n")
    assert _quarantined(lake) == sorted(  # nothing lost
        (str(csv), line, "record is not valid JSON")
        for line in csv.read_text().splitlines())
    # one record that is JSON, even a bad event, and the file is JSON with bad records: exit 0
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('not json\n{"event_id": "m-1"}\n[1]\n')
    code, out, err = run_main(capsys, "ingest", str(mixed), "--lake", str(lake.root))
    assert (code, out, err) == (0, "accepted 0 (of which duplicate 0), quarantined 3\n", "")
    # records that are JSON but no object; with --json, the counts still on stdout
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("1\n2\n")
    code, out, err = run_main(capsys, "ingest", str(numbers), "--lake", str(lake.root), "--json")
    assert json.loads(out)["quarantined"] == 2
    assert code == 0 and err.count("\n") == 1
    assert f"warning: '{numbers}' holds no JSON object (its 2 records are kept" in err


def test_json_lines_in_another_encoding_is_named_as_such_not_as_no_json(capsys, lake, tmp_path):
    # a JSON Lines export in windows-1252 whose every line holds an é: each line quarantined as
    # not UTF-8, and the warning said it "holds no JSON object", to "convert it to" JSON Lines,
    # which it was: the fix is to re-encode it
    latin1 = tmp_path / "export.jsonl"
    latin1.write_bytes(b"".join(
        json.dumps(event("artifact_received", NOW, event_id=f"caf\u00e9-{i}"),
                   ensure_ascii=False).encode("cp1252") + b"\r\n" for i in (1, 2)))
    code, out, err = run_main(capsys, "ingest", str(latin1), "--lake", str(lake.root),
                              "--now", ts(NOW))
    assert (code, out) == (0, "accepted 0 (of which duplicate 0), quarantined 2\n")
    assert err == (f"voice-monitor: warning: '{latin1}' holds JSON that is not UTF-8 (its 2 "
                   "records are kept in quarantine; do not ingest it again as it is): ingest "
                   "reads text as UTF-8 only; convert it to UTF-8 (e.g. iconv -f windows-1252 "
                   "-t utf-8) and ingest that\n")
    # bytes that are no UTF-8 and do not start as JSON does (a spreadsheet, a zip) hold no JSON
    sheet = tmp_path / "events.xlsx"
    sheet.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\xa8\xc1\n\x9f\xfe\x00\x8b\n")
    code, out, err = run_main(capsys, "ingest", str(sheet), "--lake", str(lake.root))
    assert (code, out) == (0, "accepted 0 (of which duplicate 0), quarantined 2\n")
    assert err.startswith(f"voice-monitor: warning: '{sheet}' holds no JSON object (its 2 "
                          "records are kept in quarantine;")


# -- `-`: standard input -------------------------------------------------------------------
def _ingest_stdin(lake, data: bytes, *extra: str):
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "voice-monitor"
    env = {k: v for k, v in os.environ.items() if k != "VOICE_MONITOR_LAKE"}
    return subprocess.run([str(script), "ingest", *extra, "--lake", str(lake.root),
                           "--now", "2026-02-16T14:30:00Z", "--json"], input=data,
                          capture_output=True, env=env, timeout=120)


def test_dash_reads_json_lines_or_an_array_from_standard_input(lake):
    good = [event("artifact_received", NOW, event_id=f"e{i}") for i in range(3)]
    lines = b"".join(json.dumps(r).encode() + b"\n" for r in good) + b"not json\n"
    done = _ingest_stdin(lake, lines, "-")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accepted"] == 3 and json.loads(done.stdout)["quarantined"] == 1
    # a JSON array with a BOM; e0 again is a duplicate, counted once
    array = b"\xef\xbb\xbf" + json.dumps([good[0], event("artifact_received", NOW,
                                                           event_id="e9")]).encode()
    done = _ingest_stdin(lake, array, "-")
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert (facts["accepted"], facts["duplicates"], facts["quarantined"]) == (2, 1, 0)
    import duckdb

    rows = duckdb.sql(f"select source, raw from read_parquet('{lake.root}/quarantine/*/*.parquet')"
                      ).fetchall()
    assert rows == [("<stdin>", "not json")]  # quarantine names where it came from


def test_parquet_on_standard_input_whose_rows_are_not_utf8_is_no_wrong_file(lake, tmp_path):
    # rows of a Parquet file whose text is not UTF-8 break a rule, not the format: exit 0, as
    # for a file (the check read the head of the pipe's spool after it was removed)
    table = pa.table({"event_id": pa.array([b"bad\xff"]).view(pa.string()),
                      "event_type": ["artifact_received"], "timestamp": [ts(NOW)]})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    done = _ingest_stdin(lake, sink.getvalue().to_pybytes(), "-")
    assert (done.returncode, done.stderr) == (0, b"")
    assert json.loads(done.stdout)["quarantined"] == 1
    done = _ingest_stdin(lake, b"a,b\n", "-")  # a CSV file piped in: named as standard input
    assert done.returncode == 0
    assert done.stderr.decode().startswith("voice-monitor: warning: standard input holds no JSON "
                                           "object (its one record is kept in quarantine;")


def test_dash_twice_and_gzip_on_standard_input_are_refused(lake):
    done = _ingest_stdin(lake, b"", "-", "-")
    assert done.returncode == 2 and b"more than once" in done.stderr
    done = _ingest_stdin(lake, gzip.compress(b'{"a": 1}\n'), "-")
    assert done.returncode == 1
    (line,) = done.stderr.decode().strip().splitlines()
    assert "standard input is gzip-compressed" in line and "gunzip -c FILE | voice-monitor" in line
    assert _stored(lake) == []


def test_dash_with_standard_input_closed_is_a_usage_error_naming_it(lake):
    """`voice-monitor ingest - <&-` (or a daemon with no fd 0): Python has no sys.stdin; the
    answer is the usage error naming standard input, not "AttributeError: 'NoneType'..."."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "voice-monitor"
    env = {k: v for k, v in os.environ.items() if k != "VOICE_MONITOR_LAKE"}
    done = subprocess.run([str(script), "ingest", "-", "--lake", str(lake.root)],
                          preexec_fn=lambda: os.close(0), capture_output=True,
                          env=env, timeout=120)
    (line,) = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2, line
    assert "'-' reads events from standard input, which is closed; pipe them in" in line
    assert _stored(lake) == []


def test_a_pipe_is_read_like_standard_input(capsys, lake, tmp_path):
    # `voice-monitor ingest <(zcat events.jsonl.gz)` hands over a pipe, which cannot seek: it
    # failed with "File or stream is not seekable."
    import os
    import threading

    fifo = tmp_path / "events.pipe"
    os.mkfifo(fifo)
    lines = b"".join(json.dumps(event("artifact_received", NOW, event_id=f"f{i}")).encode()
                     + b"\n" for i in range(4)) + b"{broken\n"

    def feed():
        with open(fifo, "wb") as out:
            out.write(lines)

    writer = threading.Thread(target=feed)
    writer.start()
    code, out, err = run_main(capsys, "ingest", str(fifo), "--lake", str(lake.root),
                              "--now", "2026-02-16T14:30:00Z", "--json")
    writer.join()
    assert code == 0, err
    facts = json.loads(out)
    assert (facts["accepted"], facts["quarantined"]) == (4, 1)
    import duckdb

    rows = duckdb.sql(f"select source from read_parquet('{lake.root}/quarantine/*/*.parquet')"
                      ).fetchall()
    assert rows == [(str(fifo),)]  # quarantine names the pipe as given


# -- every argument is checked before anything lands ----------------------------------------
def test_a_missing_path_among_several_is_refused_before_any_lands(capsys, lake, tmp_path):
    # `ingest a.jsonl missing.jsonl c.jsonl` landed a.jsonl, then exited 1 naming missing.jsonl
    # without saying what had landed, and never read c.jsonl
    first, last = tmp_path / "a.jsonl", tmp_path / "c.jsonl"
    first.write_text(json.dumps(event("artifact_received", NOW, event_id="a1")) + "\n")
    last.write_text(json.dumps(event("artifact_received", NOW, event_id="c1")) + "\n")
    missing = tmp_path / "missing.jsonl"
    code, out, err = run_main(capsys, "ingest", str(first), str(missing), str(last),
                              "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert f"cannot read '{missing}': No such file or directory; check the path" in err
    assert "nothing was ingested" in err and out == ""
    assert _stored(lake) == []


def test_a_gzip_file_after_a_good_one_is_refused_before_any_lands(capsys, lake, tmp_path):
    first, packed = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz"
    first.write_text(json.dumps(event("artifact_received", NOW, event_id="a1")) + "\n")
    packed.write_bytes(gzip.compress(first.read_bytes()))
    code, out, err = run_main(capsys, "ingest", str(first), str(packed), "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert f"'{packed}' is gzip-compressed" in err and "nothing was ingested" in err
    assert _stored(lake) == []


# -- an input that breaks after another landed -----------------------------------------------
def _ids_stored(lake) -> list[str]:
    import duckdb

    return sorted(r[0] for r in duckdb.sql(
        f"select event_id from read_parquet('{lake.root}/events/*/*/*.parquet')").fetchall())


def _parquet(path, ids: list[str], row_group_size: int | None = None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"event_id": ids, "event_type": ["artifact_received"] * len(ids),
                             "timestamp": [ts(NOW)] * len(ids)}), path,
                   row_group_size=row_group_size)


def _damage(path, start: int, end: int) -> None:
    data = bytearray(path.read_bytes())
    data[start:end] = bytes(b ^ 0xFF for b in data[start:end])
    path.write_bytes(bytes(data))


def test_a_parquet_file_with_a_damaged_footer_is_refused_before_any_lands(capsys, lake, tmp_path):
    # `ingest a.jsonl b.parquet` landed a.jsonl, then failed on b's footer without saying so
    first, broken = tmp_path / "a.jsonl", tmp_path / "b.parquet"
    first.write_text(json.dumps(event("artifact_received", NOW, event_id="a1")) + "\n")
    _parquet(broken, ["b1", "b2"])
    size = broken.stat().st_size
    _damage(broken, size - 40, size - 8)  # the footer's metadata; PAR1 at both ends intact
    code, out, err = run_main(capsys, "ingest", str(first), str(broken), "--lake", str(lake.root))
    assert_one_line_error(code, err, status=1)
    assert f"cannot read Parquet file '{broken}'" in err and "write it again from its source" in err
    assert "nothing was ingested" in err and out == ""
    assert _stored(lake) == []


def test_gzip_on_standard_input_after_a_file_is_refused_before_any_lands(lake, tmp_path):
    first = tmp_path / "a.jsonl"
    first.write_text(json.dumps(event("artifact_received", NOW, event_id="a1")) + "\n")
    done = _ingest_stdin(lake, gzip.compress(first.read_bytes()), str(first), "-")
    assert done.returncode == 1
    (line,) = done.stderr.decode().strip().splitlines()
    assert "standard input is gzip-compressed" in line and "nothing was ingested" in line
    assert _stored(lake) == []


def test_a_damaged_row_group_names_what_landed_and_what_to_ingest_again(
        capsys, lake, tmp_path, monkeypatch):
    """Damage inside a row group shows only when it is read: the files before it and the
    row groups before it have landed, and the error says which, with their counts."""
    import pyarrow.parquet as pq

    from voice_monitor import checked, streaming

    monkeypatch.setattr(streaming, "PARQUET_ROWS", 2)  # a batch of 2 rows ...
    monkeypatch.setattr(checked, "GROUP_BATCHES", 1)  # ... lands on its own
    first, broken, last = tmp_path / "a.jsonl", tmp_path / "b.parquet", tmp_path / "c.jsonl"
    first.write_text("".join(json.dumps(event("artifact_received", NOW, event_id=i)) + "\n"
                             for i in ("a1", "a2")) + "not json\n")
    _parquet(broken, ["b1", "b2", "b3", "b4", "b5", "b6"], row_group_size=2)
    third = pq.ParquetFile(broken).metadata.row_group(2).column(0)
    _damage(broken, third.data_page_offset, third.data_page_offset + 16)  # its page header
    last.write_text(json.dumps(event("artifact_received", NOW, event_id="c1")) + "\n")
    code, out, err = run_main(capsys, "ingest", str(first), str(broken), str(last),
                              "--lake", str(lake.root), "--now", "2026-02-16T14:30:00Z")
    assert_one_line_error(code, err, status=1)
    assert f"cannot read Parquet file '{broken}'" in err
    # a.jsonl: 2 events and a line that is no JSON; b.parquet: its first two row groups
    assert (f"; landed before this error: '{first}' (accepted 2, of which duplicate 0, "
            f"quarantined 1), part of '{broken}' (accepted 4, of which duplicate 0, "
            f"quarantined 0); not landed: the rest of '{broken}', '{last}': ingest only those "
            f"again (the part of '{broken}' that landed then counts as duplicates, once)"
            ) in err
    assert _ids_stored(lake) == ["a1", "a2", "b1", "b2", "b3", "b4"]


def test_a_partly_landed_input_says_its_quarantined_records_are_quarantined_again(
        capsys, lake, tmp_path, monkeypatch):
    # the part of a file that landed before a damaged row group is stored again when the file
    # is ingested again: its events count as duplicates, once, but quarantine keeps every
    # record it is given, so its rejects are there twice; the error said "once" of all of it
    import pyarrow as pa
    import pyarrow.parquet as pq

    from voice_monitor import checked, streaming

    monkeypatch.setattr(streaming, "PARQUET_ROWS", 2)
    monkeypatch.setattr(checked, "GROUP_BATCHES", 1)
    broken = tmp_path / "b.parquet"
    types = ["artifact_received", "no_such_type"] * 3  # b2, b4, b6 are rejected
    pq.write_table(pa.table({"event_id": [f"b{i}" for i in range(1, 7)], "event_type": types,
                             "timestamp": [ts(NOW)] * 6}), broken, row_group_size=2)
    third = pq.ParquetFile(broken).metadata.row_group(2).column(0)
    _damage(broken, third.data_page_offset, third.data_page_offset + 16)
    argv = ("ingest", str(broken), "--lake", str(lake.root), "--now", "2026-02-16T14:30:00Z")
    code, _, err = run_main(capsys, *argv)
    assert_one_line_error(code, err, status=1)
    # row groups 1 and 2 landed: b1, b3 accepted; b2, b4 quarantined
    assert (f"part of '{broken}' (accepted 2, of which duplicate 0, quarantined 2); not "
            f"landed: the rest of '{broken}': ingest only those again (the part of "
            f"'{broken}' that landed then counts as duplicates, once; its 2 quarantined "
            f"record(s) are quarantined again)") in err, err
    assert _ids_stored(lake) == ["b1", "b3"]


def test_a_folder_among_the_inputs_is_a_usage_error_naming_the_fix(capsys, lake, tmp_path):
    # click said "File '…' is a directory." and no more
    first, folder = tmp_path / "a.jsonl", tmp_path / "exports 1"
    first.write_text(json.dumps(event("artifact_received", NOW, event_id="a1")) + "\n")
    folder.mkdir()
    code, out, err = run_main(capsys, "ingest", str(first), str(folder), "--lake", str(lake.root))
    assert_one_line_error(code, err, status=2)
    assert (f"'{folder}' is a folder, not an event file; pass the files in it, e.g. "
            f"'{folder}'/*.jsonl") in err
    assert _stored(lake) == []
