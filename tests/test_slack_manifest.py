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
# Capital and limits: every portfolio at a glance, and the P&L chart.
BOT_COMMANDS |= {"/portfolios", "/pnl"}
# files:write: /pnl uploads its chart.
BOT_SCOPES = {"commands", "chat:write", "chat:write.public", "files:write"}
# The App Home tab's dashboard is published when a user opens it.
BOT_EVENTS = {"app_home_opened"}


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
    assert commands["/pnl"]["description"] == "P&L chart: /pnl [portfolio] [day|week|month|all]"
    assert "limits NAME" in commands["/portfolio"]["usage_hint"]


@pytest.mark.parametrize("kind", ["http", "socket"])
def test_manifest_turns_the_home_tab_on_and_subscribes_to_its_opening(kind):
    manifest = _manifest(kind)
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == BOT_EVENTS


def test_http_manifest_points_commands_and_interactivity_at_slack_events():
    manifest = _manifest("http")
    assert manifest["settings"]["socket_mode_enabled"] is False
    assert manifest["settings"]["interactivity"]["request_url"] == EVENTS_URL
    for command in manifest["features"]["slash_commands"]:
        assert command["url"] == EVENTS_URL
    assert manifest["settings"]["event_subscriptions"]["request_url"] == EVENTS_URL


def test_socket_manifest_needs_no_public_url():
    manifest = _manifest("socket")
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in manifest["settings"]["interactivity"]
    assert all("url" not in command for command in manifest["features"]["slash_commands"])
    assert "request_url" not in manifest["settings"]["event_subscriptions"]


def test_both_manifests_differ_only_in_how_slack_reaches_the_bot():
    def without_transport(manifest: dict) -> dict:
        manifest["settings"].pop("socket_mode_enabled")
        manifest["settings"]["interactivity"].pop("request_url", None)
        manifest["settings"]["event_subscriptions"].pop("request_url", None)
        for command in manifest["features"]["slash_commands"]:
            command.pop("url", None)
        return manifest

    assert without_transport(_manifest("http")) == without_transport(_manifest("socket"))


class _RecordingApp:
    """Stands in for slack_bolt.App to see which slash commands the bot registers."""

    def __init__(self) -> None:
        self.commands: set[str] = set()
        self.events: set[str] = set()

    def command(self, name: str):
        self.commands.add(name)
        return lambda handler: handler

    def event(self, name: str):
        self.events.add(name)
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


def test_every_event_the_bot_listens_to_is_subscribed_in_the_manifests():
    from slack_bot.listeners import events

    app = _RecordingApp()
    events.register(app)
    assert app.events == BOT_EVENTS
    for kind in ("http", "socket"):
        subscribed = set(_manifest(kind)["settings"]["event_subscriptions"]["bot_events"])
        assert app.events <= subscribed, f"manifest.{kind}.json misses {app.events - subscribed}"
