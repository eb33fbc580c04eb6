"""CLI commands: queries."""

import click


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
