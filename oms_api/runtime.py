"""Wires the OMS together: database, broker gateway and its shared request budget, services,
and the background work that keeps orders in step with the broker.

Background work, per worker process:
- the change listener (PostgreSQL): other workers' order writes wake this worker's waiters;
- the broker probe: asks the broker how it is only when nothing succeeded for a while, so
  /health answers from what the OMS already knows and never spends broker budget itself;
and in exactly one worker (PostgreSQL advisory lock), the tracker: the trade_updates stream
(its events queued and applied in batches) and the sweep of working orders.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from oms_api.alerts.deliverer import AlertDeliverer
from oms_api.broker.budget import make_budget
from oms_api.config import Mode, Settings
from oms_api.controls.emergency import EmergencySells
from oms_api.controls.loss_limit import LossLimitMonitor
from oms_api.controls.state import TradingStateService
from oms_api.controls.stop import EmergencyStops, StopSettings
from oms_api.db.engine import is_postgres, make_engine, singleton_lock
from oms_api.db.notify import ChangeListener, publish_stream_state
from oms_api.history.sync import HistorySync
from oms_api.market.service import MarketService
from oms_api.orders.intake import TradeEventIntake
from oms_api.orders.service import OrderService, ServiceSettings
from oms_api.pnl.loss_limit import PortfolioLossLimitMonitor
from oms_api.pnl.service import PnlService
from oms_api.portfolios.service import PortfolioService
from oms_api.reconcile.service import Reconciler, ReconcileSettings

log = logging.getLogger(__name__)

# The tracker's worker says how its stream is every this often; silence for STALE means unknown.
STREAM_HEARTBEAT_SECONDS = 10.0
STREAM_STATE_STALE_SECONDS = 30.0


def service_settings(settings: Settings) -> ServiceSettings:
    return ServiceSettings(
        reject_when_market_closed=settings.reject_when_market_closed,
        fill_wait_polls=settings.fill_wait_polls,
        fill_poll_interval_seconds=float(settings.fill_poll_interval_seconds),
        unknown_grace_seconds=float(settings.unknown_grace_seconds),
        sweep_seconds_streaming=float(settings.order_sweep_seconds),
        sweep_seconds_polling=float(settings.order_poll_after_seconds),
    )


def build_gateway(settings: Settings, engine: Engine | None = None) -> Any:
    from oms_api.broker.gateway import AlpacaGateway

    secret = settings.alpaca_secret_key.get_secret_value() if settings.alpaca_secret_key else ""
    return AlpacaGateway(
        key_id=settings.alpaca_api_key_id or "",
        secret_key=secret,
        base_url=settings.alpaca_base_url,
        data_url=settings.alpaca_data_url,
        stream_url=settings.stream_url,
        timeout=float(settings.broker_timeout_seconds),
        # One budget for every worker on this database (PostgreSQL), this process's otherwise.
        budget=make_budget(engine, settings.broker_requests_per_minute, settings.broker_burst),
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
    trading: TradingStateService
    stops: EmergencyStops
    emergency: EmergencySells
    loss_limit: LossLimitMonitor
    alerts: AlertDeliverer
    stream: Any = None
    intake: TradeEventIntake | None = None
    listener: ChangeListener | None = None
    # Compares the OMS with the broker (start-up, schedule, on demand); set by `build`.
    reconciler: Reconciler = None  # type: ignore[assignment]
    # Mirrors the broker's order history and positions (start-up, schedule, on demand).
    history: HistorySync = None  # type: ignore[assignment]
    # P&L from the portfolios' fills, and each portfolio's daily loss limit; set by `build`.
    pnl: PnlService = None  # type: ignore[assignment]
    portfolio_loss_limit: PortfolioLossLimitMonitor = None  # type: ignore[assignment]
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    tracker_active: threading.Event = field(default_factory=threading.Event)
    # Another worker's stream, as it last said: (connected, when, on the monotonic clock).
    _remote_stream: tuple[bool, float] | None = None
    _monotonic: Callable[[], float] = time.monotonic

    @classmethod
    def build(
        cls,
        settings: Settings,
        gateway: Any = None,
        engine: Engine | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Runtime:
        engine = engine or make_engine(settings.database_url)
        gateway = gateway or build_gateway(settings, engine)
        mode = settings.mode.value
        orders = OrderService(engine, gateway, service_settings(settings), sleep=sleep)
        orders.writer.alert_mode = mode
        orders.writer.alert_on_fills = settings.alert_on_fills
        orders.writer.alert_on_rejections = settings.alert_on_rejections
        portfolios = PortfolioService(engine, mode)
        stops = EmergencyStops(
            engine,
            gateway,
            orders,
            portfolios,
            mode,
            StopSettings(verify_seconds=float(settings.stop_verify_seconds)),
        )
        runtime = cls(
            settings=settings,
            engine=engine,
            gateway=gateway,
            orders=orders,
            portfolios=portfolios,
            market=MarketService(gateway),
            trading=TradingStateService(engine, mode),
            stops=stops,
            emergency=EmergencySells(orders, portfolios, gateway),
            loss_limit=LossLimitMonitor(engine, gateway, stops, settings.daily_loss_limit, mode),
            alerts=AlertDeliverer(engine, settings),
        )
        runtime.orders.stream_live = lambda: runtime.stream_connected
        runtime.history = HistorySync(engine, gateway)
        runtime.pnl = PnlService(engine, portfolios, runtime.market)
        runtime.portfolio_loss_limit = PortfolioLossLimitMonitor(engine, runtime.pnl, mode)
        runtime.reconciler = Reconciler(
            engine,
            gateway,
            orders,
            portfolios,
            runtime.history,
            ReconcileSettings(
                grace_seconds=float(settings.reconcile_grace_seconds),
                lookback_days=settings.reconcile_lookback_days,
                mode=mode,
            ),
            sleep=sleep,
        )
        # Looked up at each batch (not bound once), so the service can be observed in tests.
        runtime.intake = TradeEventIntake(lambda batch: runtime.orders.apply_trade_events(batch))
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
    def local_stream_connected(self) -> bool:
        return bool(self.stream is not None and self.stream.connected)

    @property
    def stream_connected(self) -> bool:
        """The trade stream is connected: in this worker, or in the one that runs it."""
        if self.local_stream_connected:
            return True
        remote = self._remote_stream
        return bool(
            remote is not None
            and remote[0]
            and self._monotonic() - remote[1] < STREAM_STATE_STALE_SECONDS
        )

    # -- lifecycle -----------------------------------------------------------
    def start(self, background: bool = True) -> None:
        """Settle what a previous run left open, then (optionally) start the background work."""
        if background and is_postgres(self.engine):
            self.listener = ChangeListener(
                self.engine,
                self.orders.notify_tag,
                on_orders=self.orders.order_changed_elsewhere,
                on_stream=self._heard_stream_state,
                on_gap=self.orders.watch.touch_all,
            )
            self.listener.start()
        with singleton_lock(self.engine, "oms-recovery", blocking=True):
            try:
                settled = self.orders.recover()
                if settled:
                    log.info("recovery settled %d order(s) left open by a previous run", settled)
            except Exception:
                log.exception("start-up recovery failed; the sweep will keep trying")
        # A stop whose worker died is finished here (it holds its own lock while it runs).
        try:
            self.stops.resume_unfinished()
        except Exception:
            log.exception("could not look for an unfinished emergency stop; the tracker will")
        # One look at the broker at start-up (keys, reachability), for /health and the log.
        if self.gateway.probe_if_quiet(0) is False:
            log.warning("the broker did not answer at start-up: %s", self.gateway.contact.failure)
        if self.settings.reconcile_on_start:
            self._reconcile("startup")
        if background:
            assert self.intake is not None
            self.intake.start()
            self._spawn("oms-tracker", self._track)
            self._spawn("oms-broker-probe", self._probe)
            self.alerts.start()

    def stop(self) -> None:
        self._stop.set()
        self.alerts.stop()
        self.stops.join(timeout=10)
        for thread in self._threads:
            thread.join(timeout=10)
        if self.intake is not None:
            self.intake.stop()
        if self.listener is not None:
            self.listener.stop()
        self.engine.dispose()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _heard_stream_state(self, _tag: str, connected: bool) -> None:
        self._remote_stream = (connected, self._monotonic())

    def _probe(self) -> None:
        """Ask the broker how it is only when no request succeeded for a while: /health reads
        the answer; no health request ever costs a broker call."""
        quiet = float(self.settings.broker_probe_seconds)
        while not self._stop.wait(1.0):
            try:
                self.gateway.probe_if_quiet(quiet)
            except Exception:
                log.exception("broker probe failed")

    # -- the tracker: stream and sweep (one worker) ------------------------------
    def _track(self) -> None:
        """Only one process runs the stream consumer and the sweep (advisory lock)."""
        while not self._stop.is_set():
            with singleton_lock(self.engine, "oms-tracker") as owner:
                if owner:
                    self.tracker_active.set()
                    self._run_tracker()
                    self.tracker_active.clear()
                    return
            self._stop.wait(1)  # another worker holds it; try again soon

    def _on_connect(self) -> None:
        # Alpaca does not replay events missed while disconnected: check what is open now.
        try:
            self.orders.sweep(older_than_seconds=0, full=True)
        except Exception:
            log.exception("sweep after the stream (re)connected failed")

    def _run_tracker(self) -> None:
        if self.settings.stream_enabled:
            from oms_api.broker.stream import TradeUpdatesStream

            assert self.intake is not None
            secret = self.settings.alpaca_secret_key
            self.stream = TradeUpdatesStream(
                key_id=self.settings.alpaca_api_key_id or "",
                secret_key=secret.get_secret_value() if secret else "",
                stream_url=self.settings.stream_url,
                on_event=self.intake.put,
                on_connect=self._on_connect,
            )
            self.stream.start()
        interval = max(float(self.settings.order_poll_after_seconds), 0.5)
        streaming_interval = float(self.settings.order_sweep_seconds)
        last_full = last_sweep = last_controls = self._monotonic()
        last_sync = last_reconcile = last_full
        controls_every = float(self.settings.loss_limit_check_seconds)
        sync_every = float(self.settings.history_sync_seconds)
        reconcile_every = float(self.settings.reconcile_seconds)
        published: tuple[bool, float] | None = None
        try:
            while not self._stop.wait(min(interval, 1.0)):
                now = self._monotonic()
                connected = self.local_stream_connected
                published = self._publish_stream_state(connected, published, now)
                if now - last_controls >= controls_every:
                    self._check_controls()
                    last_controls = now
                if reconcile_every > 0 and now - last_reconcile >= reconcile_every:
                    last_reconcile = now
                    if self._market_open() and self._reconcile("schedule"):
                        last_sync = now  # a reconcile syncs the mirror first
                if sync_every > 0 and now - last_sync >= sync_every:
                    last_sync = now
                    self._sync_history()
                if now - last_sweep < interval:
                    continue
                # Unsettled orders and doubtful cancels every `interval`; every working order
                # only rarely while the stream is up (it says what changes).
                every = streaming_interval if connected else interval
                full = now - last_full >= every
                try:
                    self.orders.sweep(older_than_seconds=interval, full=full)
                except Exception:
                    log.exception("order sweep failed")
                last_sweep = now
                if full:
                    last_full = now
        finally:
            if self.stream is not None:
                self.stream.stop()
            self._publish_stream_state(False, published, self._monotonic(), force=True)

    def _reconcile(self, trigger: str) -> bool:
        """A start-up or scheduled reconcile (it alerts on change); a failure is logged and
        alerted, never fatal. Whether it ran."""
        try:
            self.reconciler.run(trigger)
            return True
        except Exception as error:
            log.exception("%s reconciliation failed", trigger)
            self.reconciler.alert_failure(trigger, error)
            return False

    def _market_open(self) -> bool:
        try:
            return bool(self.gateway.get_clock().is_open)  # cached by the gateway
        except Exception:
            log.warning("could not read the market clock; scheduled reconcile skipped")
            return False

    def _sync_history(self) -> None:
        try:
            self.history.run()
        except Exception:
            log.exception("broker history sync failed")

    def _check_controls(self) -> None:
        """The loss limits (the account's, each portfolio's), a stop left running by a dead
        worker, stops waiting for the open."""
        for name, check in (
            ("loss limit", self.loss_limit.check),
            ("portfolio loss limits", self.portfolio_loss_limit.check),
            ("unfinished stop", self._resume_stop_if_idle),
            ("queued stop", self.stops.complete_queued),
        ):
            try:
                check()
            except Exception:
                log.exception("%s check failed", name)

    def _resume_stop_if_idle(self) -> None:
        # A stop marked running that no worker is running (its lock is free) is picked up.
        if not self.stops.busy():
            self.stops.resume_unfinished()

    def _publish_stream_state(
        self,
        connected: bool,
        published: tuple[bool, float] | None,
        now: float,
        force: bool = False,
    ) -> tuple[bool, float] | None:
        if not is_postgres(self.engine):
            return published
        due = (
            force
            or published is None
            or published[0] != connected
            or now - published[1] >= STREAM_HEARTBEAT_SECONDS
        )
        if not due:
            return published
        try:
            publish_stream_state(self.engine, self.orders.notify_tag, connected)
        except Exception:
            log.warning("could not tell the other workers about the trade stream")
            return published
        return connected, now
