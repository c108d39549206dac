"""`.env.example`: every setting of the OMS and of the Slack bot, with safe placeholders.

It is read from the Settings classes themselves, so a setting added without a line in
`.env.example` (or a line left for a setting that is gone) fails here."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from oms_api.config import Settings
from slack_bot.config import BotSettings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / ".env.example"
# `NAME=value`, commented out or not.
SETTING_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")
# What real credentials look like: Slack tokens (xoxb-123…, xapp-…), Alpaca keys (PK…/AK…
# upper-case runs), and long random-looking runs mixing letters and digits.
REAL_LOOKING = [
    re.compile(r"xox[abeoprs]-\d"),
    re.compile(r"xapp-\d-"),
    re.compile(r"\b[PA]K[A-Z0-9]{14,}\b"),
    re.compile(r"(?=[A-Za-z0-9_\-+/=]*\d)(?=[A-Za-z0-9_\-+/=]*[A-Za-z])[A-Za-z0-9_\-+/=]{20,}"),
]


def env_names(settings: type[BaseSettings]) -> set[str]:
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
        names.add((alias or name).upper())
    return names


def example_settings() -> dict[str, str]:
    found = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = SETTING_LINE.match(line)
        if match:
            assert match.group(1) not in found, f"{match.group(1)} is listed twice"
            found[match.group(1)] = match.group(2)
    return found


def test_env_example_lists_every_setting_of_the_oms_and_the_bot() -> None:
    missing = (env_names(Settings) | env_names(BotSettings)) - set(example_settings())
    assert not missing, f"add these to .env.example: {sorted(missing)}"


def test_env_example_lists_only_settings_that_exist() -> None:
    unknown = set(example_settings()) - env_names(Settings) - env_names(BotSettings)
    assert not unknown, f"not a setting of the OMS or the bot: {sorted(unknown)}"


def test_env_example_says_what_each_setting_is() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if SETTING_LINE.match(line):
            previous = lines[number - 1]
            assert previous.startswith("# ") and not SETTING_LINE.match(previous), (
                f"line {number + 1} ({line}) needs a one-line comment above it"
            )


def test_env_example_holds_no_real_looking_token() -> None:
    for name, value in example_settings().items():
        for pattern in REAL_LOOKING:
            assert not pattern.search(value), f"{name}={value} looks like a real credential"


def test_env_example_copied_to_env_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every line is commented out: a copy never sets a placeholder token by accident."""
    for name in env_names(Settings) | env_names(BotSettings):
        monkeypatch.delenv(name, raising=False)
    for settings in (Settings, BotSettings):
        copied = settings(_env_file=EXAMPLE)  # type: ignore[call-arg]
        assert copied.model_dump() == settings(_env_file=None).model_dump()  # type: ignore[call-arg]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_env_example_is_committed_but_env_is_ignored() -> None:
    def ignored(path: str) -> bool:
        done = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        assert done.returncode in (0, 1), "not a git checkout"
        return done.returncode == 0

    assert ignored(".env") and ignored(".env.local")
    assert not ignored(".env.example")
