"""Options declared once as a dataclass (``with_options``): where they stand in a command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from fhir_ivc.cli._app import app
from fhir_ivc.cli._options import with_options

#: the options of Connection, in their --help order (--max-pages only where pages are read)
SERVER_OPTIONS = [
    "--auth-token-env",
    "--auth-token-file",
    "--basic-auth-file",
    "--auth",
    "--client-id",
    "--private-key",
    "--scope",
    "--token-url",
    "--smart-config",
    "--timeout",
    "--insecure",
    "--max-response-bytes",
    "--response-deadline",
]


@dataclass(frozen=True)
class Pair:
    left: Annotated[int, typer.Option("--left")] = 1
    right: Annotated[str, typer.Option("--right")] = "r"


PAIR = Pair()


def _options(command: typer.Typer | object, name: str | None = None) -> list[str]:
    click_command = typer.main.get_command(command)  # type: ignore[arg-type]
    if name is not None:
        click_command = click_command.commands[name]  # type: ignore[attr-defined]
    return [p.opts[0] for p in click_command.params if p.opts[0].startswith("--")]


def test_the_fields_stand_where_the_parameter_stood_and_come_back_as_one_object():
    seen: list[tuple[int, Pair, bool]] = []

    @with_options("pair", Pair)
    def command(
        first: Annotated[int, typer.Option("--first")] = 0,
        pair: Pair = PAIR,
        last: Annotated[bool, typer.Option("--last")] = False,
    ) -> None:
        seen.append((first, pair, last))

    one = typer.Typer(add_completion=False)
    one.command()(command)
    assert _options(one) == ["--first", "--left", "--right", "--last"]
    result = CliRunner().invoke(one, ["--left", "5", "--last"])
    assert result.exit_code == 0, result.output
    assert seen == [(0, Pair(5, "r"), True)]


def test_omitted_fields_keep_their_default():
    seen: list[Pair] = []

    @with_options("pair", Pair, omit={"right"})
    def command(pair: Pair = PAIR) -> None:
        seen.append(pair)

    one = typer.Typer(add_completion=False)
    one.command()(command)
    assert _options(one) == ["--left"]
    assert CliRunner().invoke(one, ["--right", "x"]).exit_code == 2  # no such option
    assert CliRunner().invoke(one, ["--left", "3"]).exit_code == 0
    assert seen == [Pair(3, "r")]


@pytest.mark.parametrize(
    ("command", "pages"), [("push", False), ("pull", True), ("validate", True)]
)
def test_the_server_options_of_each_command(command, pages):
    options = _options(app, command)
    start = options.index("--auth-token-env")
    expected = SERVER_OPTIONS + (["--max-pages"] if pages else [])
    assert options[start : start + len(expected)] == expected
    assert ("--max-pages" in options) is pages


@pytest.mark.parametrize("command", ["map", "push", "validate"])
def test_the_record_limits_stand_together(command):
    options = _options(app, command)
    start = options.index("--max-record-bytes")
    assert options[start + 1] == "--max-depth"


def test_push_and_pull_take_the_server_from_the_environment_validate_does_not():
    def server(name: str) -> typer.core.TyperOption:
        command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
        return next(p for p in command.params if p.opts[0] == "--server")

    for name in ("push", "pull"):
        assert (server(name).envvar, server(name).metavar) == ("FHIR_IVC_SERVER", "URL"), name
    assert server("validate").envvar is None
