"""The alert history read model: one SQLAlchemy model on SQLite (embedded) or PostgreSQL, in
parts by concern, all on one engine:

- `history`   alerts (one row per alert_id) and the decisions folded into their status
- `feed`      every change with a sequence number, which the live feed of every replica tails
- `outbox`    deliveries (the dispatch outbox, leased) and send intents (attempts in doubt)
- `evidence`  snapshot references and further evidence (a tamper alert's before image),
              retention deadlines, evidence locks, retention deletions
- `accounts`  console users and their API tokens; `sessions` their console sessions
- `state`     the service's switches (dispatch suspended); `audit_outbox` the audit records
              written by the command line, waiting for the service to seal them into its chain

Everything in the parts is synchronous; `Database` runs it on worker threads (one for SQLite).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool
from vigie_alerts.adapters.store.accounts import Accounts, User
from vigie_alerts.adapters.store.evidence import EvidenceIndex
from vigie_alerts.adapters.store.feed import Feed, FeedItem
from vigie_alerts.adapters.store.history import AlertHistory, AlertQuery
from vigie_alerts.adapters.store.outbox import Delivery, NewDelivery, Outbox, delivery_id
from vigie_alerts.adapters.store.sessions import SessionInfo, Sessions
from vigie_alerts.adapters.store.state import AuditOutbox, ServiceState
from vigie_alerts.adapters.store.stored import EvidenceItem, StoredAlert
from vigie_alerts.adapters.store.tables import Base, now_utc

__all__ = ["AlertQuery", "Database", "Delivery", "EvidenceItem", "FeedItem", "NewDelivery",
           "SessionInfo", "Store", "StoredAlert", "User", "default_url", "delivery_id",
           "make_engine", "now_utc", "open_store"]

T = TypeVar("T")


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'alerts' / 'alerts.db'}"


def make_engine(url: str, pool_size: int = 4) -> Engine:
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            engine = create_engine(url, poolclass=StaticPool,
                                   connect_args={"check_same_thread": False})
        else:
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            engine = create_engine(url, connect_args={"check_same_thread": False,
                                                      "timeout": 15})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


class Store:
    """The parts of the read model, sharing one engine and session factory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        sessions = sessionmaker(engine, expire_on_commit=False)
        self.history = AlertHistory(sessions)
        self.feed = Feed(sessions)
        self.outbox = Outbox(sessions)
        self.evidence = EvidenceIndex(sessions)
        self.accounts = Accounts(sessions)
        self.sessions = Sessions(sessions)
        self.state = ServiceState(sessions)
        self.audit_outbox = AuditOutbox(sessions)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_schema(self) -> None:
        Base.metadata.create_all(self.engine)


def open_store(url: str, pool_size: int = 4) -> Store:
    store = Store(make_engine(url, pool_size))
    store.create_schema()
    return store


class Database:
    """Runs Store calls on worker threads, so the event loop never waits on SQL. Two pools: the
    consume path (alerts, decisions, console reads) and the background (dispatcher, live tail,
    housekeeping), so that dispatch work never queues in front of an alert on its way to the
    operators. SQLite gets one thread each (its writes serialise on the database lock anyway)."""

    def __init__(self, store: Store, threads: int) -> None:
        self.store = store
        workers = 1 if store.dialect == "sqlite" else max(1, threads)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alerts-db")
        self._background = ThreadPoolExecutor(max_workers=max(1, workers // 2),
                                              thread_name_prefix="alerts-db-bg")

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    async def bg(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._background, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._background.shutdown(wait=True)
        self.store.engine.dispose()
