"""`ingest` on files that are plainly no input format: an error naming the file, not garbage
quarantined line by line with exit 0 (a gzip'd JSON Lines file once "landed" as
"accepted 0, quarantined 8")."""

from __future__ import annotations

import gzip
import json

from conftest import NOW, assert_one_line_error, event, run_main


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
    assert code == 0, err
    assert out.strip() == "accepted 0 (of which duplicate 0), quarantined 2"
