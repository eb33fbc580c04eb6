"""Damage inside a Parquet page that still decodes is found by `lake check` (contract §4).

Bytes garbled in the middle of an event file can leave a file that reads without an error and
holds other values (timestamps moved decades away from their hour, so the hour's rollup counts
fewer events). `lake check` read every row group and found nothing. Every lake file is now
written with a CRC per page, and `lake check` verifies them: the file is listed and moved aside.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
from conftest import NOW, event, run_main

from voice_monitor.landing import land_records

HOUR = datetime(2026, 2, 16, 7, tzinfo=UTC)


def garbled_but_readable(path) -> int:
    """Garble 8 bytes (xor 0x5a) of the file's timestamp column chunk, at the first place
    where the file still reads whole (no page checksums verified) but with other values;
    returns that offset. Deterministic for given bytes."""
    data = path.read_bytes()
    before = pq.read_table(path).column("timestamp").cast("int64").to_pylist()
    group = pq.ParquetFile(path).metadata.row_group(0)
    chunk = next(group.column(i) for i in range(group.num_columns)
                 if group.column(i).path_in_schema == "timestamp")
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    for offset in range(start + 24, start + chunk.total_compressed_size - 8):
        damaged = bytearray(data)
        for k in range(offset, offset + 8):
            damaged[k] ^= 0x5A
        path.write_bytes(bytes(damaged))
        try:
            after = pq.read_table(path).column("timestamp").cast("int64").to_pylist()
        except Exception:  # noqa: BLE001 (damage a plain read notices: not this test's case)
            continue
        if after != before:
            return offset
    raise AssertionError("no damage that still reads was found in the timestamp column")


def test_damage_that_still_reads_is_listed_and_moved_aside(lake, capsys):
    # 400 events of one hour, one landing: one file
    land_records(lake, [event("artifact_received", HOUR + timedelta(seconds=s))
                        for s in range(0, 3600, 9)], now=NOW)
    (path,) = lake.event_files(HOUR)
    name = path.relative_to(lake.root).as_posix()
    garbled_but_readable(path)

    code, out, _ = run_main(capsys, "lake", "check", "--lake", str(lake.root))
    assert code == 1
    assert f"unreadable {name}: " in out and "CRC" in out, out
    assert "1 unreadable" in out

    run_main(capsys, "lake", "check", "--move-aside", "--lake", str(lake.root))
    assert not path.exists()
    assert list((lake.root / "corrupt").rglob(path.name))
