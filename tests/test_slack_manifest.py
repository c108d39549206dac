"""The shipped Slack app manifests are valid and declare everything the bot answers."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

MANIFESTS = Path(__file__).resolve().parents[1] / "slack_bot" / "manifests"
EVENTS_URL = "https://YOUR-BOT-HOST/slack/events"
# Every slash command the bot registers a listener for.
BOT_COMMANDS = {"/trade", "/sell", "/positions", "/account", "/orders", "/quote", "/market", "/oms"}
# The trading controls: /desk for traders, the rest for admins.
BOT_COMMANDS |= {"/desk", "/stop", "/halt", "/resume", "/portfolio", "/audit"}
# The broker's view: its trade history and the reconciliation with the OMS.
BOT_COMMANDS |= {"/history", "/reconcile"}
BOT_SCOPES = {"commands", "chat:write", "chat:write.public"}


def _manifest(kind: str) -> dict:
    return json.loads((MANIFESTS / f"manifest.{kind}.json").read_text())


@pytest.mark.parametrize("kind", ["http", "socket"])
def test_manifest_validates_against_slacks_schema(specs_dir, kind):
    schema = json.loads((specs_dir / "slack-manifest.schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(_manifest(kind)), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


@pytest.mark.parametrize("kind", ["http", "socket"])
def test_manifest_declares_every_command_with_help_and_the_scopes(kind):
    manifest = _manifest(kind)
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(commands) == BOT_COMMANDS
    for command in commands.values():
        assert command["description"].strip()
        assert len(command["description"]) <= 100  # Slack's autocomplete shows a short line
    assert "usage_hint" in commands["/trade"]
    assert "SYMBOL" in commands["/quote"]["usage_hint"]
    assert set(manifest["oauth_config"]["scopes"]["bot"]) >= BOT_SCOPES
    assert manifest["display_information"]["name"] == "Alpaca OMS"
    assert manifest["features"]["bot_user"]["display_name"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_http_manifest_points_commands_and_interactivity_at_slack_events():
    manifest = _manifest("http")
    assert manifest["settings"]["socket_mode_enabled"] is False
    assert manifest["settings"]["interactivity"]["request_url"] == EVENTS_URL
    for command in manifest["features"]["slash_commands"]:
        assert command["url"] == EVENTS_URL


def test_socket_manifest_needs_no_public_url():
    manifest = _manifest("socket")
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in manifest["settings"]["interactivity"]
    assert all("url" not in command for command in manifest["features"]["slash_commands"])


def test_both_manifests_differ_only_in_how_slack_reaches_the_bot():
    def without_transport(manifest: dict) -> dict:
        manifest["settings"].pop("socket_mode_enabled")
        manifest["settings"]["interactivity"].pop("request_url", None)
        for command in manifest["features"]["slash_commands"]:
            command.pop("url", None)
        return manifest

    assert without_transport(_manifest("http")) == without_transport(_manifest("socket"))


class _RecordingApp:
    """Stands in for slack_bolt.App to see which slash commands the bot registers."""

    def __init__(self) -> None:
        self.commands: set[str] = set()

    def command(self, name: str):
        self.commands.add(name)
        return lambda handler: handler


def test_every_command_the_bot_registers_is_in_the_manifests():
    commands_package = pytest.importorskip(
        "slack_bot.listeners.commands", reason="the bot's command listeners are not built yet"
    )
    app = _RecordingApp()
    commands_package.register(app)
    assert app.commands == BOT_COMMANDS
    for kind in ("http", "socket"):
        declared = {c["command"] for c in _manifest(kind)["features"]["slash_commands"]}
        assert app.commands <= declared, f"manifest.{kind}.json misses {app.commands - declared}"
