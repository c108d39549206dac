"""What a trader reads when the OMS refuses or cannot answer: one sentence saying what
happened, whether anything was sent and when to try again. The OMS's own wording (budgets,
connection errors, internal states) goes to the log, never to Slack.

Pure functions of the OMS's error code, message and details."""

from __future__ import annotations

from typing import Any

from slack_bot import formatting

RETRY_SOON = "in a minute"

OMS_DOWN_READ = "OMS unavailable — try again in a minute."
OMS_DOWN_TRADE = "OMS unavailable — nothing was sent. Try again in a minute."
OMS_MAYBE_SENT = (
    "The OMS did not answer in time — the order may have been placed. Check /orders before "
    "trying again."
)
OMS_MAYBE_CANCELED = (
    "The OMS did not answer in time — the cancel may have gone through. Check /orders before "
    "trying again."
)
OUTCOME_UNKNOWN = (
    "The broker did not confirm this order, so it may have been placed. Do not place it "
    "again: the OMS keeps checking with the broker, and /orders shows the outcome."
)
INTERNAL_ERROR = (
    "The OMS hit an unexpected error. Try again; if it keeps happening, ask an OMS admin to "
    "look at its log."
)


def as_sentence(text: str) -> str:
    """`the broker refused the order: x` → `The broker refused the order: x.`"""
    text = " ".join(text.split())
    if not text:
        return "The OMS refused the request."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def retry_after(details: dict[str, Any]) -> str:
    """`in 30 s` from `details.retry_after_seconds`, else `in a minute`."""
    seconds = details.get("retry_after_seconds")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and 0 < seconds < 3600:
        return f"in {max(1, round(seconds))} s"
    return RETRY_SOON


def _reached_broker(details: dict[str, Any]) -> bool | None:
    """Did the refused trade reach the broker? None when the answer does not say."""
    trade = details.get("trade")
    status = trade.get("status") if isinstance(trade, dict) else None
    if status in ("not_sent", "pending_submit"):
        return False
    if status is not None:
        return True
    # A write that failed after the send names the order it sent.
    return True if details.get("client_order_id") else None


def read_error(code: str, message: str, details: dict[str, Any], reading: str) -> str:
    """A read (positions, orders, a quote, ...) the OMS could not answer."""
    if code == "broker_busy":
        return (
            f"The broker is busy right now (Alpaca allows 200 requests a minute), so {reading} "
            f"could not be read. Try again {retry_after(details)}."
        )
    if code == "broker_unavailable":
        return f"The broker could not be reached to read {reading}. Try again in a minute."
    if code == "broker_error":
        return f"The broker refused to give {reading} just now. Try again in a minute."
    if code == "database_unavailable":
        return (
            f"The OMS's database is not answering, so {reading} could not be read. "
            "Try again in a minute."
        )
    if code == "internal_error":
        return INTERNAL_ERROR
    return as_sentence(message)


def trade_error(code: str, message: str, details: dict[str, Any], *, cancel: bool = False) -> str:
    """Placing (or cancelling) an order failed: say whether anything reached the broker."""
    if cancel:
        return _cancel_error(code, message, details)
    if code == "trading_halted":
        return halted_refusal(details)
    reached = _reached_broker(details)
    if code == "outcome_unknown" or (reached and code == "broker_unavailable"):
        return OUTCOME_UNKNOWN
    if code == "broker_busy":
        return (
            "The broker is busy right now (Alpaca allows 200 requests a minute). "
            f"Nothing was sent — try again {retry_after(details)}."
        )
    if code in ("broker_unavailable", "broker_error", "stale_unsent"):
        return "The broker could not be reached. Nothing was sent — try again in a minute."
    if code == "database_unavailable":
        if reached:
            return (
                "The order reached the broker, but the OMS's database stopped answering before "
                "it could record the outcome. Do not place it again: /orders shows it once the "
                "database is back."
            )
        return "The OMS's database is not answering. Nothing was sent — try again in a minute."
    if code == "internal_error":
        return INTERNAL_ERROR
    return as_sentence(message)


def _cancel_error(code: str, message: str, details: dict[str, Any]) -> str:
    # The OMS records the cancel request before asking the broker, and asks again later
    # when the broker could not be asked: the order may still be working meanwhile.
    if code == "broker_busy":
        return (
            "The broker is busy right now (Alpaca allows 200 requests a minute), so the cancel "
            "has not reached it yet and the order may still be working. Check /orders "
            f"{retry_after(details)}."
        )
    if code in ("broker_unavailable", "broker_error"):
        return (
            "The broker could not be reached, so the cancel has not gone through yet and the "
            "order may still be working. Check /orders in a minute."
        )
    if code == "database_unavailable":
        return (
            "The OMS's database is not answering, so the cancel may not have gone through. "
            "Check /orders in a minute."
        )
    if code == "internal_error":
        return INTERNAL_ERROR
    return as_sentence(message)


# --- trading controls -----------------------------------------------------------------------

OMS_DOWN_CONTROL = "OMS unavailable — nothing was changed. Try again in a minute."
OMS_MAYBE_DONE = (
    "The OMS did not answer in time — it may have done it anyway. Check /desk before trying again."
)
OMS_MAYBE_SOLD = (
    "The OMS did not answer in time — the emergency sell may have been placed. Check /orders "
    "before trying again."
)


OMS_MAYBE_REPAIRED = (
    "The OMS did not answer in time — the repair may have been done. Run /reconcile latest "
    "before trying again."
)
NO_REPORT = "No reconciliation report was found — /reconcile compares the OMS with the broker now."
NO_TRADE = "That trade is no longer in the broker history — run /history again."


def history_read_error(code: str, message: str, details: dict[str, Any], reading: str) -> str:
    """Reading a reconciliation report or a trade of the broker history failed."""
    if code == "report_not_found":
        return NO_REPORT
    if code == "trade_not_found":
        return NO_TRADE
    return read_error(code, message, details, reading)


def who_acted(user_id: object, name: object = None) -> str:
    """Who changed something, for plain text: the Slack user's name (else their id); the OMS
    itself or an API client said as such."""
    ident = str(user_id or "").strip()
    shown = " ".join(str(name).split()) if isinstance(name, str) and name.strip() else ""
    if ident == "system":
        return "the OMS itself"
    if ident in ("", "api") and not shown:
        return "an API client"
    return shown or ident


def halted_refusal(details: dict[str, Any]) -> str:
    """A new order refused while trading is halted (409 `trading_halted`): by whom, since when,
    why; nothing was sent; who can undo it."""
    who = who_acted(details.get("halted_by"), details.get("halted_by_name"))
    stop = details.get("stop_id")
    cause = f" (emergency stop #{stop})" if isinstance(stop, int) and stop > 0 else ""
    since = formatting.when(details.get("since"))
    reason = details.get("reason")
    why = f": {' '.join(str(reason).split()).rstrip('.')}" if reason else ""
    moment = f" since {since}" if since != formatting.MISSING else ""
    return (
        f"Trading is halted by {who}{cause}{moment}{why}. Nothing was sent. An admin can /resume."
    )


def control_error(code: str, message: str, details: dict[str, Any]) -> str:
    """A trading control (halt, resume, emergency stop, emergency sell, portfolio pause or
    stop) the OMS refused or could not do: what happened, and whether anything changed."""
    if code == "stop_running":
        stop = details.get("stop_id")
        which = f" (#{stop})" if isinstance(stop, int) else ""
        return (
            f"An emergency stop is still running{which}, so trading cannot be resumed yet: "
            "resume once it has finished (/desk shows it). Nothing was changed."
        )
    if code == "nothing_to_close":
        symbol, portfolio = details.get("symbol"), details.get("portfolio")
        if symbol and portfolio:
            return f"Portfolio {portfolio} holds no {symbol} any more — nothing was sent."
        return as_sentence(message.replace("; nothing was sent", " — nothing was sent"))
    if code == "portfolio_not_found":
        changed = message.replace("does not exist", "does not exist — nothing was changed")
        return as_sentence(changed)
    if code == "nothing_to_repair":
        return (
            "Nothing is left to repair in this report — another admin may have done it "
            "already. Run /reconcile to compare again."
        )
    if code == "not_repairable":
        return (
            "The OMS cannot repair these discrepancies that way any more — nothing was "
            "changed. Run /reconcile to compare again."
        )
    if code == "report_not_found":
        return NO_REPORT
    if code in ("broker_busy", "broker_unavailable", "broker_error", "outcome_unknown"):
        return trade_error(code, message, details)
    if code == "database_unavailable":
        return "The OMS's database is not answering — nothing was changed. Try again in a minute."
    if code == "internal_error":
        return INTERNAL_ERROR
    return as_sentence(message)
