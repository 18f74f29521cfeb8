"""Export a Parley room's whole history as JSON lines: one message object per line, oldest first.

    PARLEY_URL=http://127.0.0.1:5000 PARLEY_TOKEN=<secret> python examples/export_history.py \\
        --room 42 --output room-42.jsonl

Without --output the lines go to stdout. The token is an API token (POST /auth/tokens) of a member
of the room. Deleted messages are exported too, blanked, with "deleted": true.
"""

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import requests

PAGE_SIZE = 100  # the largest page GET /rooms/<id>/messages serves


def history(url: str, token: str, room_id: int) -> Iterator[dict[str, Any]]:
    """Every message of the room, oldest first, one page (after=<last id seen>) at a time."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    after, has_more = 0, True
    while has_more:
        response = http.get(
            f"{url}/rooms/{room_id}/messages", params={"after": after, "limit": PAGE_SIZE}, timeout=30
        )
        if not response.ok:
            error = response.json().get("error", {}) if response.content else {}
            raise SystemExit(f"GET {response.url} failed ({response.status_code}): {error.get('message')}")
        page = response.json()
        yield from page["messages"]
        has_more = page["has_more"] and bool(page["messages"])
        if page["messages"]:
            after = page["messages"][-1]["id"]


def export(url: str, token: str, room_id: int, output: TextIO) -> int:
    """Write the room's history to output as JSON lines; returns how many messages were written."""
    count = 0
    for message in history(url, token, room_id):
        output.write(json.dumps(message, ensure_ascii=False) + "\n")
        count += 1
    return count


def main() -> None:
    """Parse the settings (command line, else PARLEY_* variables) and export."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("PARLEY_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--token", default=os.environ.get("PARLEY_TOKEN"), help="API token secret")
    parser.add_argument("--room", type=int, default=os.environ.get("PARLEY_ROOM"), help="room id")
    parser.add_argument("--output", "-o", help="file to write (default: stdout)")
    args = parser.parse_args()
    if not args.token or args.room is None:
        parser.error("a token (--token or PARLEY_TOKEN) and a room (--room or PARLEY_ROOM) are required")
    if args.output is None:
        count = export(args.url.rstrip("/"), args.token, args.room, sys.stdout)
    else:
        with open(args.output, "w", encoding="utf-8") as output:
            count = export(args.url.rstrip("/"), args.token, args.room, output)
    print(f"exported {count} messages", file=sys.stderr)


if __name__ == "__main__":
    main()
