"""Typing indicators: announced to the room's other members, throttled, expiring after 5 s.

A client says `typing {is_typing: true}` while the user types (every few seconds is enough);
the room hears `user_typing` at most once per THROTTLE_SECONDS for a user who keeps typing, and
`is_typing: false` when the user stops, disconnects, or says nothing for EXPIRES_SECONDS. The
sender's own sockets never hear it. A message sent over Socket.IO ends the indicator quietly:
clients drop it when a new_message from that user arrives.

The state is per process, like the connections that feed it.
"""

import threading
import time
from dataclasses import dataclass

from flask import Flask, current_app

from app.models import User
from app.schemas.users import serialize_user
from app.services import events, presence
from app.services.room_views import member_access, require_active

EXPIRES_SECONDS = 5.0
THROTTLE_SECONDS = 2.0


@dataclass
class _Typing:
    user: dict
    announced_at: float
    expires_at: float


class TypingTracker:
    """Who is typing where, in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[tuple[int, int], _Typing] = {}

    def start(self, room_id: int, user: dict, now: float) -> bool:
        """Note a keystroke; True when the room should hear about it now."""
        with self._lock:
            entry = self._active.get((room_id, user["id"]))
            if entry is not None and now - entry.announced_at < THROTTLE_SECONDS:
                entry.expires_at = now + EXPIRES_SECONDS
                return False
            self._active[(room_id, user["id"])] = _Typing(user, now, now + EXPIRES_SECONDS)
            return True

    def stop(self, room_id: int, user_id: int) -> dict | None:
        """Forget that the user types in the room; their user object if they were."""
        with self._lock:
            entry = self._active.pop((room_id, user_id), None)
            return entry.user if entry else None

    def stop_everywhere(self, user_id: int) -> list[tuple[int, dict]]:
        """Forget the user typing anywhere; (room_id, user) for each room they typed in."""
        with self._lock:
            keys = [key for key in self._active if key[1] == user_id]
            return [(key[0], self._active.pop(key).user) for key in keys]

    def expire(self, now: float) -> list[tuple[int, dict]]:
        """Drop indicators not renewed in time; (room_id, user) for each."""
        with self._lock:
            keys = [key for key, entry in self._active.items() if entry.expires_at <= now]
            return [(key[0], self._active.pop(key).user) for key in keys]


_EXTENSION = "parley_typing"


def init_typing(app: Flask) -> None:
    """Give the app its typing tracker."""
    app.extensions[_EXTENSION] = TypingTracker()


def _tracker() -> TypingTracker:
    return current_app.extensions[_EXTENSION]


def _announce(room_id: int, user: dict, is_typing: bool) -> None:
    # Typing changes nothing stored, so it is published at once rather than after a commit.
    skip = tuple(presence.store().sids_of(user["id"]))
    data = {"room_id": room_id, "user": user, "is_typing": is_typing}
    events.publish(events.Event("user_typing", data, (events.room_target(room_id),), skip))


def set_typing(user: User, room_id: int, is_typing: bool) -> None:
    """A member starts or stops typing in an open room; the others hear it (throttled)."""
    require_active(member_access(user, room_id))
    if is_typing:
        serialized = serialize_user(user, online=True)
        if _tracker().start(room_id, serialized, time.monotonic()):
            _announce(room_id, serialized, True)
    elif (serialized := _tracker().stop(room_id, user.id)) is not None:
        _announce(room_id, serialized, False)


def clear_typing(user_id: int, room_id: int) -> None:
    """The user sent a message: their indicator ends without an announcement."""
    _tracker().stop(room_id, user_id)


def stop_all_typing(user_id: int) -> None:
    """The user went offline: end their indicators everywhere."""
    for room_id, user in _tracker().stop_everywhere(user_id):
        _announce(room_id, user, False)


def expire_typing() -> None:
    """Announce the end of every indicator not renewed within EXPIRES_SECONDS."""
    for room_id, user in _tracker().expire(time.monotonic()):
        _announce(room_id, user, False)
