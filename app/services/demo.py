"""Demo data for trying the UI: a few people, rooms and a conversation."""

import secrets
from dataclasses import dataclass, field

from sqlalchemy import select

from app.extensions import db
from app.models import Message, Room, RoomMembership, User
from app.models.room import room_name_key
from app.services import accounts
from app.services.passwords import hash_password

DEMO_PEOPLE = [("alice@example.com", "Alice"), ("bob@example.com", "Bob"), ("carol@example.com", "Carol")]
DEMO_ROOMS = [
    ("general", "Everything and nothing", "public"),
    ("random", "Links, jokes, off-topic", "public"),
    ("team", "Invite only", "private"),
]
DEMO_CONVERSATION = [
    (0, "Hi all, welcome to Parley!"),
    (1, "Hello! Is this thing on?"),
    (2, "Loud and clear. 🎉"),
    (0, "Try the typing indicator, and open a second browser to see presence."),
]


@dataclass
class DemoSeed:
    """What one run added; people or rooms that existed already are left as they are."""

    people: list[User] = field(default_factory=list)
    rooms: list[Room] = field(default_factory=list)

    @property
    def added_anything(self) -> bool:
        """Whether this run added any person or room."""
        return bool(self.people or self.rooms)


def _demo_people(password: str, rounds: int, added: DemoSeed) -> list[User]:
    # An existing account keeps its name and password; only missing people are created.
    people: list[User] = []
    password_hash: str | None = None
    for email, name in DEMO_PEOPLE:
        person = accounts.find_user_by_email(email)
        if person is None:
            password_hash = password_hash or hash_password(password, rounds)
            person = User(email=email, name=name, password_hash=password_hash)
            db.session.add(person)
            added.people.append(person)
        people.append(person)
    db.session.flush()
    return people


def _add_room(name: str, description: str, kind: str, people: list[User]) -> Room:
    room = Room(
        name=name,
        name_key=room_name_key(name),
        description=description,
        kind=kind,
        created_by=people[0].id,
        invite_code=secrets.token_urlsafe(12) if kind == "private" else None,
    )
    db.session.add(room)
    db.session.flush()
    for index, person in enumerate(people):
        role = "owner" if index == 0 else "member"
        db.session.add(RoomMembership(room_id=room.id, user_id=person.id, role=role))
    return room


def seed_demo_data(password: str, rounds: int) -> DemoSeed:
    """Add whichever demo people and rooms are missing; a room whose name is taken is left alone."""
    added = DemoSeed()
    people = _demo_people(password, rounds, added)
    for name, description, kind in DEMO_ROOMS:
        if db.session.scalar(select(Room.id).where(Room.name_key == room_name_key(name))) is not None:
            continue
        room = _add_room(name, description, kind, people)
        added.rooms.append(room)
        if name == "general":
            for author, text in DEMO_CONVERSATION:
                db.session.add(Message(room_id=room.id, user_id=people[author].id, content=text))
    db.session.commit()
    return added
