"""README: the `oms` command list and the bot's configuration table say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from oms_api.cli import main
from slack_bot.config import BotSettings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _section(heading: str) -> str:
    start = README.index(f"\n{heading}\n")
    following = re.search(r"\n#{2,3} ", README[start + len(heading) + 2 :])
    end = start + len(heading) + 2 + (following.start() if following else len(README))
    return README[start:end]


def _commands_paragraph() -> str:
    start = README.index("`oms` commands:")
    return README[start : README.index("\n\n", start)]


@pytest.mark.parametrize("command", ["up", "api", "bot", "sim", "migrate"])
def test_readme_oms_commands_lists_each_command_with_its_flags(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", capsys.readouterr().out)) - {"--help"}
    paragraph = _commands_paragraph()
    assert f"`oms {command}" in paragraph
    missing = sorted(flag for flag in flags if flag not in paragraph)
    assert not missing, f"`oms {command}` flags missing from the README: {missing}"


def test_readme_bot_configuration_lists_every_bot_setting() -> None:
    table = _section("### Bot configuration")
    missing = [
        name.upper() for name in BotSettings.model_fields if f"`{name.upper()}`" not in table
    ]
    assert not missing, f"document these in README → Bot configuration: {missing}"
