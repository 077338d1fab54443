"""Every command's ``--help`` ends with an example of the command itself."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator

from api.cli.main import build_parser


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command below ``parser``, with the words that name it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*path, name), child
                yield from _commands(child, (*path, name))


def test_every_command_has_an_example_of_itself_in_its_help() -> None:
    commands = dict(_commands(build_parser()))
    # The walk reaches the nested actions (and so would miss nothing silently).
    assert {("serve",), ("drift",), ("experiments", "promote"), ("keys", "create")} <= set(commands)
    assert len(commands) >= 25
    for path, parser in commands.items():
        text = parser.format_help()
        assert "\nexample" in text, path
        examples = text.split("\nexample", 1)[1].splitlines()[1:]
        prefix = "bandit-router " + " ".join(path)
        assert any(line.strip().startswith(prefix) for line in examples), (path, examples)


def test_the_top_help_runs_as_a_module_and_names_the_environment() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "api.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "BANDIT_ROUTER_URL" in completed.stdout
    assert "BANDIT_ROUTER_KEY" in completed.stdout
    assert "bandit-router drift" in completed.stdout
