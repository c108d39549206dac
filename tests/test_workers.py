"""Several OMS workers on one PostgreSQL: the background singletons run once."""

from __future__ import annotations

import pytest

from oms_api.runtime import Runtime
from tests.oms import oms_settings, wait_for

pytestmark = pytest.mark.postgres


def test_only_one_worker_runs_the_stream_and_poller(sim, postgres_url, db_engine, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("this run's database is SQLite; the PostgreSQL pass covers several workers")
    settings = oms_settings(sim, database_url)
    workers = [Runtime.build(settings) for _ in range(3)]
    try:
        for worker in workers:
            worker.start(background=True)
        wait_for(lambda: sum(w.tracker_active.is_set() for w in workers) == 1, "one tracker")
        active = [w for w in workers if w.tracker_active.is_set()]
        wait_for(lambda: active[0].stream_connected, "the active worker's stream")
        assert sum(w.stream is not None for w in workers) == 1
        # When the active worker stops, another one takes over (it retries the lock).
        active[0].stop()
        rest = [w for w in workers if w is not active[0]]
        wait_for(lambda: any(w.tracker_active.is_set() for w in rest), "a new tracker", 15)
        assert sum(w.tracker_active.is_set() for w in rest) == 1
    finally:
        for worker in workers:
            worker.stop()
