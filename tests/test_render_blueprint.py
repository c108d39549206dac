"""render.yaml is a valid Render Blueprint that deploys the OMS the way the README says."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from slack_bot.config import load_bot_settings

ROOT = Path(__file__).resolve().parents[1]


def _blueprint() -> dict:
    return yaml.safe_load((ROOT / "render.yaml").read_text())


def test_render_yaml_validates_against_renders_schema(specs_dir):
    schema = json.loads((specs_dir / "render.yaml.schema.json").read_text())
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(_blueprint()), key=lambda e: e.path
    )
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_oms_service_migrates_before_deploy_and_checks_health():
    services = {s["name"]: s for s in _blueprint()["services"]}
    api = services["oms-api"]
    assert api["type"] == "web"
    assert api["preDeployCommand"] == "oms migrate"
    assert api["healthCheckPath"] == "/health"
    assert api["startCommand"].startswith("oms api")
    assert "--require-hashes -r requirements.lock" in api["buildCommand"]


def test_secrets_are_never_in_the_blueprint():
    env = {e["key"]: e for e in _blueprint()["services"][0]["envVars"]}
    for secret in ("OMS_API_TOKEN", "ALPACA_API_KEY_ID", "ALPACA_SECRET_KEY"):
        assert env[secret] == {"key": secret, "sync": False}
    assert env["DATABASE_URL"]["fromDatabase"]["name"] in {
        db["name"] for db in _blueprint()["databases"]
    }
    assert env["TRADING_MODE"]["value"] == "paper"


def test_slack_bot_service_reaches_the_oms_and_keeps_its_secrets_out():
    services = {s["name"]: s for s in _blueprint()["services"]}
    bot = services["oms-slack-bot"]
    assert bot["type"] == "web"
    assert bot["runtime"] == "python"
    assert bot["startCommand"].startswith("oms bot")
    assert "--host 0.0.0.0" in bot["startCommand"]
    assert bot["healthCheckPath"] == "/health"
    assert bot["buildCommand"] == services["oms-api"]["buildCommand"]
    assert "preDeployCommand" not in bot  # the bot has no database to migrate

    env = {e["key"]: e for e in bot["envVars"]}
    assert env["OMS_URL"]["fromService"] == {
        "type": "web",
        "name": "oms-api",
        "property": "hostport",
    }
    for secret in ("OMS_API_TOKEN", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        assert env[secret] == {"key": secret, "sync": False}


def test_render_hostport_is_a_usable_oms_url():
    settings = load_bot_settings(_env_file=None, oms_url="oms-api-ab12:10000")
    assert settings.oms_url == "http://oms-api-ab12:10000"
    assert settings.oms_api_url == "http://oms-api-ab12:10000/api/v1"
