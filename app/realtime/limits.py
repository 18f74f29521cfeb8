"""Per-connection limits on socket events (DESIGN §4): a flood gets `rate_limited`, then a disconnect."""

import math
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

# Which limit an event counts against; everything else counts against "event".
BUCKETS = {"send_message": "message", "typing": "typing"}
CONFIG_KEYS = {
    "message": "SOCKET_MESSAGE_LIMIT",
    "typing": "SOCKET_TYPING_LIMIT",
    "event": "SOCKET_EVENT_LIMIT",
}


def parse_limit(text: str) -> tuple[int, float]:
    """ "20/10" -> (20 events, 10 seconds)."""
    count, _, seconds = text.partition("/")
    try:
        limit = int(count), float(seconds)
    except ValueError:
        raise ValueError(f"a socket limit looks like '20/10' (events/seconds), not {text!r}") from None
    if limit[0] < 1 or not 0 < limit[1] < math.inf:
        raise ValueError(f"a socket limit needs positive numbers, not {text!r}")
    return limit


class SlidingWindow:
    """At most `count` events in any `seconds`."""

    def __init__(self, count: int, seconds: float) -> None:
        self.count, self.seconds = count, seconds
        self._times: deque[float] = deque()

    def hit(self, now: float) -> bool:
        """Count an event; False (and not counted) when it is over the limit."""
        while self._times and now - self._times[0] >= self.seconds:
            self._times.popleft()
        if len(self._times) >= self.count:
            return False
        self._times.append(now)
        return True


def _window(text: str) -> SlidingWindow:
    return SlidingWindow(*parse_limit(text))


class ConnectionLimits:
    """The limits of one socket, and how many times it has been refused lately."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._windows = {bucket: _window(config[key]) for bucket, key in CONFIG_KEYS.items()}
        self._strikes = config["SOCKET_FLOOD_STRIKES"]
        # Refusals are remembered as long as the longest window: that is "sustained".
        self._refusals = SlidingWindow(self._strikes, max(w.seconds for w in self._windows.values()))

    def allow(self, event: str) -> bool:
        """Whether this event may go through now."""
        return self._windows[BUCKETS.get(event, "event")].hit(time.monotonic())

    def refused(self) -> bool:
        """Note a refusal; True when the socket has been refused too often and must go."""
        return not self._refusals.hit(time.monotonic())
