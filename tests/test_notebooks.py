"""The notebooks run top to bottom on a small demo-like lake, draw their charts with the
dashboard's chart definitions (Plotly, titled, UTC time axes), and are committed without
outputs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from voice_monitor.demo.data import generate
from voice_monitor.lake import Lake, NoLakeError
from voice_monitor.landing import land_lines
from voice_monitor.notebook import setup
from voice_monitor.organizations import load_organizations
from voice_monitor.rollups import run_daily, run_hourly

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
END = datetime(2026, 2, 16, 14, 30, tzinfo=UTC)
PLOTLY = "application/vnd.plotly.v1+json"


def test_the_three_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == [
        "adhoc_sql.ipynb", "artifact_investigation.ipynb", "pipeline_overview.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory) -> Lake:
    root = tmp_path_factory.mktemp("notebooks")
    lake = Lake(root / "lake")
    data = generate(END, days=2, artifacts_per_day=150)
    land_lines(lake, data.lines, "demo", now=END)
    run_hourly(lake, now=END)
    run_daily(lake, now=END)
    csv = root / "orgs.csv"
    csv.write_text("organization_id,name\n" + "".join(
        f"{org},{name}\n" for org, name in data.organizations if name and "," not in name))
    load_organizations(lake, csv)
    return lake


def launched_in(monkeypatch, directory: Path, lake: str) -> None:
    """Jupyter started from `directory` (its shell's $PWD) with VOICE_MONITOR_LAKE=`lake`."""
    monkeypatch.chdir(directory)
    monkeypatch.setenv("PWD", str(directory))
    monkeypatch.setenv("VOICE_MONITOR_LAKE", lake)
    monkeypatch.delenv("VOICE_MONITOR_CONFIG", raising=False)


def execute(path: Path) -> nbformat.NotebookNode:
    """Run a notebook as Jupyter does: the kernel's current directory is the notebook's folder."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError on any error
    return notebook


def printed(notebook: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for out in cell.outputs)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_draws(path, demo_lake, monkeypatch):
    # a relative lake, as the CLI would read it in the directory Jupyter was started from
    launched_in(monkeypatch, demo_lake.root.parent, demo_lake.root.name)
    monkeypatch.setenv("VOICE_MONITOR_NOW", "2026-02-16T14:30:00Z")
    notebook = execute(path)
    assert f"lake {demo_lake.root.resolve()}," in printed(notebook)
    charts = [c for c in notebook.cells if "chart" in c.metadata.get("tags", [])]
    assert charts, "every notebook draws at least one chart"
    for cell in charts:
        figures = [out["data"][PLOTLY] for out in cell.outputs if PLOTLY in out.get("data", {})]
        assert len(figures) == 1, cell.source[:60]
        layout = figures[0]["layout"]
        assert layout["title"]["text"], cell.source[:60]
        assert "UTC" in layout["xaxis"]["title"]["text"] or layout["xaxis"].get("type") != "date"
        assert figures[0]["data"], cell.source[:60]
    assert "matplotlib" not in path.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_an_empty_lake(path, tmp_path, monkeypatch):
    Lake.create(tmp_path / "empty")
    launched_in(monkeypatch, tmp_path, "empty")
    monkeypatch.delenv("VOICE_MONITOR_NOW", raising=False)
    monkeypatch.delenv("ARTIFACT_ID", raising=False)
    text = printed(execute(path))  # no cell raises
    assert f"lake {(tmp_path / 'empty').resolve()}," in text
    assert "no events yet" in text
    assert "PeriodsNotBuiltWarning" not in text  # every hour "not built" under each total
    if path.stem == "artifact_investigation":
        assert "no failed or active artifact to look at" in text


def test_setup_resolves_a_relative_lake_where_jupyter_was_started(tmp_path, monkeypatch):
    notebooks = NOTEBOOKS[0].parent
    Lake.create(tmp_path / "lake")
    launched_in(monkeypatch, tmp_path, "lake")
    monkeypatch.chdir(notebooks)  # where the kernel runs
    lake, _ = setup(notebooks)
    assert lake.root.resolve() == (tmp_path / "lake").resolve()
    # the same rule for the config file's lake (voice-monitor.toml where Jupyter was started)
    Lake.create(tmp_path / "configured")
    (tmp_path / "voice-monitor.toml").write_text('lake = "configured"\n')
    monkeypatch.delenv("VOICE_MONITOR_LAKE")
    lake, _ = setup(notebooks)
    assert lake.root.resolve() == (tmp_path / "configured").resolve()


def test_setup_resolves_the_lake_as_the_cli_and_refuses_a_non_lake(tmp_path, monkeypatch):
    monkeypatch.delenv("VOICE_MONITOR_LAKE", raising=False)
    monkeypatch.delenv("VOICE_MONITOR_CONFIG", raising=False)
    monkeypatch.delenv("PWD", raising=False)  # not known: relative to the repository root
    notebooks = NOTEBOOKS[0].parent
    # no env: the repository's ./data, which holds only its README in a fresh clone
    data = notebooks.parent / "data"
    if Lake(data).exists():
        pytest.skip("this checkout's ./data holds a lake")
    with pytest.raises(NoLakeError, match=f"no lake at {data}"):
        setup(notebooks)
    monkeypatch.setenv("VOICE_MONITOR_LAKE", str(tmp_path / "typo"))
    with pytest.raises(NoLakeError, match="create it with voice-monitor init"):
        setup(notebooks)


def test_setup_answers_on_a_lake_holding_unreadable_files(tmp_path, monkeypatch, capsys):
    # every notebook's first cell read pipeline_hourly and raw_events whole: one corrupt event
    # file (or snapshot file) anywhere failed it, and so the whole notebook, where the cells
    # reading other periods answer (contract §4). "now" is the end of the newest hourly
    # snapshot, 13:00 + 1 h, read from the partitions' names
    from datetime import timedelta

    from conftest import NOW, event

    from voice_monitor.landing import land_records

    lake = Lake.create(tmp_path / "lake")
    for hour in (12, 13):
        land_records(lake, [event("artifact_received", NOW.replace(hour=hour, minute=5))], now=NOW)
        run_hourly(lake, now=NOW, hour=NOW.replace(hour=hour, minute=0))
    for path in (*lake.event_files(NOW.replace(hour=12, minute=0)),
                 *lake.snapshot_partition("pipeline_hourly", NOW.replace(hour=13, minute=0))
                 .glob("*.parquet")):
        path.write_bytes(b"not parquet")
    launched_in(monkeypatch, tmp_path, "lake")
    monkeypatch.delenv("VOICE_MONITOR_NOW", raising=False)
    capsys.readouterr()
    found, now = setup(NOTEBOOKS[0].parent)
    assert found.root.resolve() == (tmp_path / "lake").resolve()
    assert now == NOW.replace(hour=13, minute=0) + timedelta(hours=1)
    assert capsys.readouterr().out == f"lake {found.root.resolve()}, now 2026-02-16 14:00 UTC\n"


def test_setup_quiets_the_not_built_warning_on_a_lake_with_no_events_only(tmp_path, monkeypatch,
                                                                            recwarn):
    """On an empty lake every totals cell warned that all 49 hours of its range have no
    snapshot, under "no events yet"; with events, the hour whose events the totals leave out
    is still said."""
    import warnings

    from conftest import NOW, event

    from voice_monitor.landing import land_records
    from voice_monitor.queries import PeriodsNotBuiltWarning, org_breakdown

    lake = Lake.create(tmp_path / "lake")
    launched_in(monkeypatch, tmp_path, "lake")
    monkeypatch.setenv("VOICE_MONITOR_NOW", "2026-02-16T14:30:00Z")
    with warnings.catch_warnings():  # setup changes the process's filters: undone after
        found, now = setup(NOTEBOOKS[0].parent)
        org_breakdown(found, now.replace(hour=12), now)
        assert not [w for w in recwarn if w.category is PeriodsNotBuiltWarning]

        land_records(lake, [event("artifact_received", NOW.replace(minute=5))], now=NOW)
        found, now = setup(NOTEBOOKS[0].parent)  # the first cell run again
        with pytest.warns(PeriodsNotBuiltWarning, match="3 of the 3 hour"):
            org_breakdown(found, now.replace(hour=12), now)


@pytest.mark.parametrize("action", ["error", "always"])
def test_setup_keeps_a_filter_the_user_set_for_the_not_built_warning(tmp_path, monkeypatch,
                                                                     action):
    """setup() took back every filter for PeriodsNotBuiltWarning, a user's own too (one asking
    for an error, or to see it every time), and on an empty lake shadowed it with its 'ignore'.
    Now only its own filter comes and goes; the user's stays, and wins."""
    import warnings

    from conftest import NOW, event

    from voice_monitor.landing import land_records
    from voice_monitor.queries import PeriodsNotBuiltWarning, org_breakdown

    lake = Lake.create(tmp_path / "lake")
    launched_in(monkeypatch, tmp_path, "lake")
    monkeypatch.setenv("VOICE_MONITOR_NOW", "2026-02-16T14:30:00Z")
    with warnings.catch_warnings():  # setup changes the process's filters: undone after
        warnings.simplefilter(action, PeriodsNotBuiltWarning)
        users = warnings.filters[0]
        for landed in (False, True):  # an empty lake, then the first cell again with events
            if landed:
                land_records(lake, [event("artifact_received", NOW.replace(minute=5))], now=NOW)
            found, now = setup(NOTEBOOKS[0].parent)
            assert [f for f in warnings.filters if f[2] is PeriodsNotBuiltWarning] == [users]
            with warnings.catch_warnings(record=True) as said:  # "error" raises through it
                if action == "error":
                    with pytest.raises(PeriodsNotBuiltWarning, match="3 of the 3 hour"):
                        org_breakdown(found, now.replace(hour=12), now)
                else:
                    org_breakdown(found, now.replace(hour=12), now)
                    assert [w.category for w in said] == [PeriodsNotBuiltWarning]
