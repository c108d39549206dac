"""Wires the OMS together: database, broker gateway, services and the background tracker
that keeps orders in step with the broker (trade_updates stream, with polling behind it)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from oms_api.broker.models import TradeEvent
from oms_api.config import Mode, Settings
from oms_api.db.engine import make_engine, singleton_lock
from oms_api.market.service import MarketService
from oms_api.orders.service import OrderService, ServiceSettings
from oms_api.portfolios.service import PortfolioService

log = logging.getLogger(__name__)


def service_settings(settings: Settings) -> ServiceSettings:
    return ServiceSettings(
        reject_when_market_closed=settings.reject_when_market_closed,
        fill_wait_polls=settings.fill_wait_polls,
        fill_poll_interval_seconds=float(settings.fill_poll_interval_seconds),
        unknown_grace_seconds=float(settings.unknown_grace_seconds),
    )


def build_gateway(settings: Settings) -> Any:
    from oms_api.broker.gateway import AlpacaGateway

    secret = settings.alpaca_secret_key.get_secret_value() if settings.alpaca_secret_key else ""
    return AlpacaGateway(
        key_id=settings.alpaca_api_key_id or "",
        secret_key=secret,
        base_url=settings.alpaca_base_url,
        data_url=settings.alpaca_data_url,
        stream_url=settings.stream_url,
        timeout=float(settings.broker_timeout_seconds),
        requests_per_minute=settings.broker_requests_per_minute,
        paper=settings.mode is not Mode.LIVE,
    )


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    gateway: Any
    orders: OrderService
    portfolios: PortfolioService
    market: MarketService
    stream: Any = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _tracker: threading.Thread | None = None
    tracker_active: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def build(
        cls,
        settings: Settings,
        gateway: Any = None,
        engine: Engine | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Runtime:
        engine = engine or make_engine(settings.database_url)
        gateway = gateway or build_gateway(settings)
        runtime = cls(
            settings=settings,
            engine=engine,
            gateway=gateway,
            orders=OrderService(engine, gateway, service_settings(settings), sleep=sleep),
            portfolios=PortfolioService(engine),
            market=MarketService(gateway),
        )
        runtime.orders.stream_live = lambda: runtime.stream_connected
        return runtime

    # -- health ------------------------------------------------------------
    def database_ok(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    @property
    def stream_connected(self) -> bool:
        return bool(self.stream is not None and self.stream.connected)

    # -- lifecycle -----------------------------------------------------------
    def start(self, background: bool = True) -> None:
        """Settle what a previous run left open, then (optionally) start the tracker."""
        with singleton_lock(self.engine, "oms-recovery", blocking=True):
            try:
                settled = self.orders.recover()
                if settled:
                    log.info("recovery settled %d order(s) left open by a previous run", settled)
            except Exception:
                log.exception("start-up recovery failed; the poller will keep trying")
                self.orders.recovered.set()
        if background:
            self._tracker = threading.Thread(target=self._track, name="oms-tracker", daemon=True)
            self._tracker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._tracker is not None:
            self._tracker.join(timeout=10)
        self.engine.dispose()

    def _on_event(self, event: TradeEvent) -> None:
        try:
            self.orders.apply_trade_event(event)
        except Exception:  # one bad event must never stop the stream
            log.exception("could not apply trade update %s for %s", event.event, event.order.id)

    def _on_connect(self) -> None:
        # Alpaca does not replay events missed while disconnected: poll what is open.
        try:
            self.orders.poll_due(older_than_seconds=0)
        except Exception:
            log.exception("poll after stream (re)connect failed")

    def _track(self) -> None:
        """Only one process runs the stream consumer and the poller (advisory lock)."""
        while not self._stop.is_set():
            with singleton_lock(self.engine, "oms-tracker") as owner:
                if owner:
                    self.tracker_active.set()
                    self._run_tracker()
                    self.tracker_active.clear()
                    return
            self._stop.wait(1)  # another worker holds it; try again soon

    def _run_tracker(self) -> None:
        if self.settings.stream_enabled:
            from oms_api.broker.stream import TradeUpdatesStream

            secret = self.settings.alpaca_secret_key
            self.stream = TradeUpdatesStream(
                key_id=self.settings.alpaca_api_key_id or "",
                secret_key=secret.get_secret_value() if secret else "",
                stream_url=self.settings.stream_url,
                on_event=self._on_event,
                on_connect=self._on_connect,
            )
            self.stream.start()
        interval = max(float(self.settings.order_poll_after_seconds), 0.5)
        try:
            while not self._stop.wait(min(interval, 1.0)):
                try:
                    self.orders.poll_due(older_than_seconds=interval)
                except Exception:
                    log.exception("order poll failed")
        finally:
            if self.stream is not None:
                self.stream.stop()
