"""An empty lake path ('' — an unset shell variable in `--lake "$LAKE"`) is refused, never taken
for the current folder or ./data (contract §4: a mistyped path can never look like a healthy,
empty lake). `ingest --lake ""` made the current folder a lake and landed there; `init ""`
created ./data."""

from __future__ import annotations

import json

import pytest
from conftest import NOW, assert_one_line_error, event, run_main

from voice_monitor.lake import Lake


@pytest.mark.parametrize("argv", [
    ["ingest", "events.jsonl", "--lake", ""],
    ["ingest", "events.jsonl", "--lake", "  "],
    ["init", ""],
    ["init", "--lake", ""],
    ["metrics", "realtime", "--lake", ""],
    ["rollup", "hourly", "--lake", ""],
    ["retention", "--dry-run", "--lake", ""],
], ids=lambda argv: " ".join(repr(a) if not a.strip() else a for a in argv))
def test_an_empty_lake_path_is_a_usage_error_and_creates_nothing(capsys, tmp_path, monkeypatch,
                                                                   argv):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VOICE_MONITOR_LAKE", raising=False)
    (tmp_path / "events.jsonl").write_text(json.dumps(event("artifact_received", NOW)) + "\n")
    code, _, err = run_main(capsys, *argv)
    assert_one_line_error(code, err, status=2)
    assert "is empty" in err and "./data" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl"]  # no lake anywhere


def test_the_python_api_refuses_an_empty_lake_path():
    for root in ("", "   "):
        with pytest.raises(ValueError, match="lake path '.*' is empty; pass the lake's directory"):
            Lake(root)
