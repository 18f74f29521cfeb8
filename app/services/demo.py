"""Demo data for trying the UI: a few people, rooms and a conversation."""

from dataclasses import dataclass, field

from sqlalchemy import select

from app.extensions import db
from app.models import Room, User
from app.models.room import room_name_key
from app.services import accounts, messaging, rooms
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


def seed_demo_data(password: str, rounds: int) -> DemoSeed:
    """Add whichever demo people and rooms are missing; a room whose name is taken is left alone."""
    added = DemoSeed()
    people = _demo_people(password, rounds, added)
    db.session.commit()
    for name, description, kind in DEMO_ROOMS:
        if db.session.scalar(select(Room.id).where(Room.name_key == room_name_key(name))) is not None:
            continue
        # Through the services, so demo rooms follow every rule real ones do.
        room = rooms.create_room(people[0], name, description, kind).room
        for person in people[1:]:
            rooms.join_room(person, room.id, room.invite_code)
        added.rooms.append(room)
        if name == "general":
            for author, text in DEMO_CONVERSATION:
                messaging.send_message(people[author], room.id, text)
    return added
