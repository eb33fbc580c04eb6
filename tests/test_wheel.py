"""The built wheel works anywhere: installed into a clean virtual environment outside the
checkout, it ingests, rolls up and answers SQL from a working directory with no `sql/` in sight."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Hour 10:00Z of 2026-02-16, worked by hand: two artifacts received, a1 completed after 15 min
# (duration_ms 900000), a2 failed (landed twice: counted once); one record of an unknown type.
EVENTS = [
    {"event_id": "e1", "event_type": "artifact_received", "timestamp": "2026-02-16T10:05:00Z",
     "artifact_id": "a1", "organization_id": "org_1"},
    {"event_id": "e2", "event_type": "artifact_received", "timestamp": "2026-02-16T10:10:00Z",
     "artifact_id": "a2", "organization_id": "org_1"},
    {"event_id": "e3", "event_type": "artifact_completed", "timestamp": "2026-02-16T10:20:00Z",
     "artifact_id": "a1", "organization_id": "org_1", "duration_ms": 900000},
    {"event_id": "e4", "event_type": "artifact_failed", "timestamp": "2026-02-16T10:40:00Z",
     "artifact_id": "a2", "organization_id": "org_1"},
    {"event_id": "e4", "event_type": "artifact_failed", "timestamp": "2026-02-16T10:40:00Z",
     "artifact_id": "a2", "organization_id": "org_1"},
    {"event_id": "e5", "event_type": "bogus", "timestamp": "2026-02-16T10:41:00Z"},
]
NOW = "2026-02-16T12:00:00Z"


def _uv() -> list[str]:
    """The uv that runs this suite (`uv run` sets $UV), else one on PATH, else `python3.11 -m uv`."""
    found = os.environ.get("UV") or shutil.which("uv")
    return [found] if found else ["python3.11", "-m", "uv"]


@pytest.mark.slow
def test_the_wheel_installed_elsewhere_ingests_rolls_up_and_answers_sql(tmp_path):
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    subprocess.run([*_uv(), "build", "--wheel", "--out-dir", str(dist)], cwd=ROOT, check=True,
                   capture_output=True)
    (wheel,) = dist.glob("voice_monitor-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([*_uv(), "pip", "install", "--quiet", "--python", str(python), str(wheel)],
                   cwd=work, check=True, capture_output=True)

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VOICE_MONITOR_", "VIRTUAL_ENV", "PYTHON", "UV_"))}
    env["PYTHONNOUSERSITE"] = "1"

    def cli(*argv: str) -> str:
        done = subprocess.run([str(venv / "bin" / "voice-monitor"), *argv, "--lake", "lake"],
                              cwd=work, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    # the installed package, not the checkout, is what runs
    where = subprocess.run([str(python), "-c", "import voice_monitor; print(voice_monitor.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout
    assert Path(where.strip()).is_relative_to(venv)

    (work / "events.jsonl").write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    assert "quarantined 1" in cli("ingest", "events.jsonl", "--now", NOW)
    cli("rollup", "hourly", "--hour", "2026-02-16T10", "--now", NOW)
    rows = json.loads(cli("sql", "select organization_id, event_count, artifacts_received, "
                          "artifacts_completed, artifacts_failed, overall_failure_rate, "
                          "e2e_latency_p50_ms from pipeline_hourly "
                          "order by organization_id nulls first", "--json"))
    # platform and org_1 see the same four distinct events: 1 failed of 2 outcomes = 0.5
    expected = {"event_count": 4, "artifacts_received": 2, "artifacts_completed": 1,
                "artifacts_failed": 1, "overall_failure_rate": 0.5, "e2e_latency_p50_ms": 900000.0}
    assert rows == [{"organization_id": None, **expected}, {"organization_id": "org_1", **expected}]
    stages = json.loads(cli("sql", "select count(*) as n from stage_hourly", "--json"))
    assert stages == [{"n": 8}]  # four processing stages, for the platform and for org_1
    reasons = json.loads(cli("sql", "select reason from quarantine", "--json"))
    assert len(reasons) == 1 and "bogus" in reasons[0]["reason"]
