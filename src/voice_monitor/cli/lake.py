"""CLI commands: init (create a lake), lake check (find and move aside unreadable files)."""

from __future__ import annotations

import os
import shlex
from datetime import datetime

import click

from voice_monitor import counter_repair, integrity, storage
from voice_monitor.cli.common import (
    VoiceMonitorError,
    create_lake,
    echo_json,
    json_option,
    lake_option,
    not_empty_path,
    now_option,
)
from voice_monitor.lake import NOT_LAKE_CONTENT, Lake, contents


@click.command()
@click.argument("path", required=False, type=click.Path(),
                callback=not_empty_path)
@lake_option(create=True)
def init(path: str | None, lake: Lake) -> None:
    """Create an empty lake at PATH (or --lake DIR; default $VOICE_MONITOR_LAKE, else ./data).

    Every command but init, ingest and demo refuses a path that holds no lake, so a mistyped or
    unmounted path fails instead of looking like a healthy empty lake. An existing lake is left
    as it is; a folder holding other things (a README aside) is refused.

    \b
    Example:
      voice-monitor init ./data
    """
    given = click.get_current_context().get_parameter_source("lake_dir")
    if path is not None and given is click.core.ParameterSource.COMMANDLINE and _where(
            Lake(path)) != _where(lake):  # one of them was ignored without a word
        raise click.BadParameter(f"PATH {path} and --lake {lake.root} differ; give one of them",
                                 param_hint="'PATH' / '--lake'")
    lake = Lake(path) if path is not None else lake
    with storage.reaching(lake.root):
        existed = lake.exists()
        if not existed and not lake.remote and lake.root.is_dir():
            _refuse_other_content(lake)
        create_lake(lake)  # PATH, not --lake: name PATH (and the disk it is on when full)
    click.echo(f"{'lake already at' if existed else 'created lake at'} {lake.root}")


# besides a README: a mount point's lost+found (a disk of its own for the lake), a data
# folder's .gitignore in a repository, macOS's .DS_Store (an empty folder to whoever made it)
INIT_KEEPS = (*NOT_LAKE_CONTENT, "lost+found", ".gitignore", ".DS_Store")


def _where(lake: Lake) -> str:
    """The lake's root as one place: a local path made absolute, a store URL as it is."""
    return str(lake.root) if lake.remote else os.path.abspath(lake.root)


def _refuse_other_content(lake: Lake) -> None:
    """init makes a lake in a new or empty folder (a README aside): a folder holding other
    things is most likely a wrong path (a home or project folder), where the lake's folders
    would be scattered among the user's files."""
    found = contents(lake.root, keep=INIT_KEEPS)
    if found:
        names = ", ".join(sorted(repr(p.name) for p in found)[:3]) + (
            f" and {len(found) - 3} more" if len(found) > 3 else "")
        inside = shlex.quote(str(lake.root / "lake"))
        raise VoiceMonitorError(
            f"{str(lake.root)!r} holds other things ({names}) and no lake; init makes a lake in "
            f"a new or empty folder only: name one, e.g. voice-monitor init {inside}")


@click.group(name="lake")
def lake_group() -> None:
    """Look after the lake itself: find unreadable files.

    \b
    Example:
      voice-monitor lake check
      voice-monitor lake check --move-aside
    """


@lake_group.command()
@click.option("--move-aside", is_flag=True,
              help="Move each unreadable file under corrupt/ in the lake, with a note of where "
                   "it came from.")
@lake_option
@now_option
@json_option
def check(move_aside: bool, lake: Lake, now: datetime, as_json: bool) -> None:
    """Read every Parquet file of the lake whole; list those that cannot be read or that lie
    outside the layout (e.g. events/date=garbage/hour=07/x.parquet, hour=99, events/x.parquet).

    Checks events/, quarantine/, snapshots/, dimensions/ and alerts/, and the real-time counter
    store (state/counters.sqlite). Exits 1 while such a file stays in place (no command reads
    an out-of-place file; the rest of the lake reads). With --move-aside each of them moves to
    corrupt/<its path> with a <name>.json note (original path, time, error); the periods that
    needed it build again on the next rollup, from the files that remain. A damaged counter
    store is moved aside too, and a new one counts the lake's events of the 2 hours before
    --now (default: the clock), so the real-time counts stay whole.

    \b
    Example:
      voice-monitor lake check --lake ./data
      voice-monitor lake check --move-aside --lake ./data
    """
    checked, found = integrity.check_lake(lake)
    stray = integrity.misplaced_files(lake)
    closed = integrity.unlistable_folders(lake)  # never moved: access is the fix
    folders = {path for path, _ in stray if path.is_dir()}  # (asked before they are moved)
    moved = integrity.move_aside(lake, found + stray) if move_aside else []
    store = counter_repair.store_problem(lake)
    if store is not None:
        checked += 1
        store_rel = integrity.relative(lake, counter_repair.store_path(lake))
        found = [*found, (counter_repair.store_path(lake), f"{store} (the real-time counter "
                          "store; --move-aside counts a new one from the lake)")]
    recounted = None
    if store is not None and move_aside:
        aside, recounted = counter_repair.repair(lake, now, store)
        moved += aside
    if as_json:
        echo_json({"checked": checked, "moved": [{"from": a, "to": b} for a, b in moved],
                   "counters_recounted": recounted,
                   "unreadable": [{"path": integrity.relative(lake, p), "error": e}
                                  for p, e in found],
                   "out_of_place": [{"path": integrity.relative(lake, p), "reason": why}
                                    for p, why in stray],
                   "unlistable": [{"path": integrity.relative(lake, p), "error": e}
                                  for p, e in closed]})
    else:
        for path, error in found:
            click.echo(f"unreadable {integrity.relative(lake, path)}: {error}")
        for path, why in stray:
            # (a folder named like a Parquet file is read, and fails: its reason says so)
            unread = "" if path in folders else " (no command reads it)"
            click.echo(f"out of place {integrity.relative(lake, path)}: {why}{unread}")
        for path, error in closed:
            click.echo(f"unlistable folder {integrity.relative(lake, path)}: {error} (no command "
                       "reads the files in it)")
        for source, target in moved:
            click.echo(f"moved {source} -> {target} (note: {target}.json)")
        if recounted is not None:
            click.echo(f"new {store_rel}: counted the lake's {recounted} event(s) of the last "
                       "2 hours")
        click.echo(f"checked {checked} file(s): {len(found)} unreadable"
                   + (f", {len(stray)} out of place" if stray else "")
                   + (f", {len(moved)} moved aside" if move_aside else ""))
    if closed:
        rel = integrity.relative(lake, closed[0][0])
        raise VoiceMonitorError(
            f"{len(closed)} lake folder(s) this user cannot list, first {rel} ({closed[0][1]}); "
            f"give this user read access (chmod -R u+rX {shlex.quote(str(closed[0][0]))}, or run "
            "as the lake's owner)")
    if (found or stray) and not move_aside:
        first = integrity.relative(lake, (found or stray)[0][0])
        what = " and ".join(part for part in (
            f"{len(found)} unreadable" if found else "",
            f"{len(stray)} out-of-place" if stray else "") if part)
        raise VoiceMonitorError(f"{what} lake file(s), first {first}; move them aside "
                                f"with: {integrity.move_aside_command(lake)}"
                                + (" (or move an out-of-place file into its partition folder)"
                                   if stray else ""))


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
    main.add_command(init)
    main.add_command(lake_group)
