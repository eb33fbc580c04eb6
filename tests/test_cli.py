"""Every command documents itself: --help with an example, and a mention in the docs."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from voice_monitor.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def _leaves(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _leaves(command, ctx, (*prefix, name))
        else:
            yield (*prefix, name)


COMMANDS = sorted(_leaves(cli, click.Context(cli)))


def test_the_contract_commands_exist():
    # contract §11, each leaf command by its words
    expected = {
        ("ingest",), ("rollup", "hourly"), ("rollup", "daily"), ("backfill",), ("retention",),
        ("metrics", "realtime"), ("metrics", "historical"), ("metrics", "stages"),
        ("metrics", "orgs"), ("events", "recent"), ("events", "timeline"),
        ("artifacts", "failed"), ("artifacts", "active"), ("alerts", "check"), ("alerts", "list"),
        ("alerts", "ack"), ("sql",), ("demo",),
    }
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example_and_is_documented(words):
    result = CliRunner().invoke(cli, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`voice-monitor {' '.join(words)} --help` has no example"
    assert f"voice-monitor {' '.join(words)}" in DOCS, f"no doc mentions {' '.join(words)}"


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_every_command_takes_lake(words):
    result = CliRunner().invoke(cli, [*words, "--help"])
    assert "--lake" in result.output


GROUPS = sorted(name for name in cli.list_commands(click.Context(cli))
                if isinstance(cli.get_command(click.Context(cli), name), click.Group))


@pytest.mark.parametrize("name", GROUPS)
def test_every_group_has_help_with_an_example(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`voice-monitor {name} --help` has no example"
