"""`oms sim` as a user runs it: a real process that prints how to connect."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from queue import Empty, Queue

import httpx
from alpaca.trading.client import TradingClient

from oms_api.simulator import DEFAULT_KEY_ID, DEFAULT_SECRET_KEY


def _read_lines(stream, queue: Queue) -> None:
    for line in stream:
        queue.put(line)


def test_oms_sim_prints_its_url_and_serves_alpaca_py():
    process = subprocess.Popen(
        [sys.executable, "-m", "oms_api.cli", "sim", "--port", "0", "--seed", "7"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: Queue[str] = Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    output = []
    try:
        base_url = None
        while base_url is None:
            try:
                line = lines.get(timeout=20)
            except Empty:
                raise AssertionError(f"no URL printed; output so far: {output}") from None
            output.append(line)
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            if match:
                base_url = match.group(1)
        # The banner tells the user how to point alpaca-py and the OMS at the simulator.
        while not any("TradingStream(" in line for line in output):
            output.append(lines.get(timeout=5))
        banner = "".join(output)
        assert f"ALPACA_BASE_URL={base_url}" in banner
        assert f'url_override="{base_url}"' in banner
        assert DEFAULT_KEY_ID in banner

        client = TradingClient(DEFAULT_KEY_ID, DEFAULT_SECRET_KEY, url_override=base_url)
        assert client.get_account().cash == "100000"
        state = httpx.get(f"{base_url}/_sim/state").json()
        assert state["seed"] == 7 and state["manual_clock"] is False
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    assert process.returncode == 0


def test_oms_sim_rejects_bad_arguments():
    result = subprocess.run(
        [sys.executable, "-m", "oms_api.cli", "sim", "--cash", "lots"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "not a number: 'lots'" in result.stderr


def test_oms_bot_without_slack_tokens_stops_with_one_line_naming_the_variable(
    monkeypatch, tmp_path, capsys
):
    from oms_api.cli import main

    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    assert main(["bot"]) == 2
    assert main(["bot", "--socket"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "SLACK_BOT_TOKEN" in err[0] and "SLACK_BOT_TOKEN" in err[1]
