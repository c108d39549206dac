"""A new user can trade at once: with no portfolio to trade in, /trade says exactly how to
create one — a command that works, against this OMS — and /trade works once it has run.

The OMS is the real app on the simulator, served on a real port so that the command from
the Slack message can run in a real shell, as an admin would paste it."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from slack_bot.blocks import ids
from slack_bot.oms_client import OmsClient
from tests.oms import OMS, TOKEN
from tests.slack_harness import Bot, oms_over_http, running_bot, text_of

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


@pytest.fixture
def bare_oms(oms_factory) -> Iterator[OMS]:
    """The OMS on a database with no portfolio at all."""
    with oms_factory() as running:
        yield running


@pytest.fixture
def bot(bare_oms: OMS) -> Iterator[Bot]:
    with oms_over_http(bare_oms) as url, running_bot(OmsClient(url, TOKEN), oms_url=url) as bot:
        bot.oms_url = url  # type: ignore[attr-defined]
        yield bot


def _trade_modal(bot: Bot) -> dict:
    bot.slack.reset()
    assert bot.command("/trade", "AAPL").status_code == 200
    bot.slack.wait_for("views.update")
    return bot.last_view()


def _command_in(view: dict) -> str:
    """The shell command in the view's code block, as Slack shows it (entities decoded)."""
    text = view["blocks"][0]["text"]["text"]
    found = re.search(r"```(.+?)```", text, re.S)
    assert found, text
    return html.unescape(found.group(1))


def _run_as_admin(command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMS_API_TOKEN": TOKEN}
    return subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=30
    )


def test_new_user_can_trade_at_once_told_the_exact_command_to_create_a_portfolio(
    bot: Bot,
) -> None:
    view = _trade_modal(bot)
    assert view["callback_id"] == ids.NO_PORTFOLIO
    command = _command_in(view)
    url = bot.oms_url  # type: ignore[attr-defined]
    assert command.startswith(f"curl -s -X POST {url}/api/v1/portfolios ")
    assert TOKEN not in text_of(view)  # the token never goes into Slack

    done = _run_as_admin(command)
    assert done.returncode == 0, done.stderr
    assert '"name":"main"' in done.stdout.replace(" ", "")

    form = _trade_modal(bot)
    assert form["callback_id"] == ids.TRADE_FORM
    portfolio = next(b for b in form["blocks"] if b.get("block_id") == ids.PORTFOLIO)
    assert portfolio["element"]["initial_option"]["value"] == "main"


def test_new_user_can_trade_at_once_told_how_to_resume_a_paused_portfolio(
    bot: Bot, bare_oms: OMS
) -> None:
    bare_oms.create_portfolio("alpha")
    assert bare_oms.patch("/portfolios/alpha", {"status": "paused"}).status_code == 200
    view = _trade_modal(bot)
    assert "paused (alpha)" in text_of(view)
    done = _run_as_admin(_command_in(view))
    assert done.returncode == 0, done.stderr
    assert '"status":"active"' in done.stdout.replace(" ", "")
    assert _trade_modal(bot)["callback_id"] == ids.TRADE_FORM
