"""Live events: queued while a transaction runs, emitted only once it commits.

Services call `queue(...)` next to the change that causes the event; nothing reaches a client
for a change that rolled back. Emitting goes through Flask-SocketIO's server, so with
REDIS_URL set an event queued in one process reaches sockets connected to every process.

Targets are Socket.IO room names in the /chat namespace: `room:<id>` holds the sockets
subscribed to a chat room, `user:<id>` every socket of one user; no target means everyone.
"""

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from app.extensions import db, socketio

log = logging.getLogger(__name__)

NAMESPACE = "/chat"
_PENDING = "parley.pending_events"


@dataclass(frozen=True)
class Event:
    """One server-to-client event of DESIGN §5 and where it goes."""

    name: str
    data: dict
    to: tuple[str, ...] = ()  # Socket.IO rooms; empty means every connected client


Listener = Callable[[Event], None]
_listeners: list[Listener] = []


def room_target(room_id: int) -> str:
    """The Socket.IO room of a chat room's subscribers."""
    return f"room:{room_id}"


def user_target(user_id: int) -> str:
    """The Socket.IO room holding every socket of one user."""
    return f"user:{user_id}"


def queue(name: str, data: dict, *, to: Iterable[str] = ()) -> None:
    """Emit the event after the current transaction commits; drop it if it rolls back."""
    db.session.info.setdefault(_PENDING, []).append(Event(name, data, tuple(to)))


def publish(event: Event) -> None:
    """Send one event now: to local listeners, then to the sockets (across processes)."""
    for listener in list(_listeners):
        listener(event)
    try:
        socketio.emit(event.name, event.data, namespace=NAMESPACE, to=list(event.to) or None)
    except Exception:  # the change is committed; a lost event is caught up by since_id on rejoin
        log.exception("emitting %s failed", event.name)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call listener with every event published inside the block."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


@contextmanager
def recording() -> Iterator[list[Event]]:
    """Collect the events published inside the block (tests assert on them)."""
    seen: list[Event] = []
    with listening(seen.append):
        yield seen


@sa_event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    for pending in session.info.pop(_PENDING, []):
        publish(pending)


@sa_event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
