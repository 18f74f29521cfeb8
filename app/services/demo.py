"""Demo data for trying the UI: a few people, rooms and a conversation."""

import secrets

from sqlalchemy import select

from app.extensions import db
from app.models import Message, Room, RoomMembership, User
from app.models.room import room_name_key
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


def seed_demo_data(password: str, rounds: int) -> list[User] | None:
    """Create the demo users, rooms and messages; None if they exist already."""
    if db.session.scalar(select(User).where(User.email == DEMO_PEOPLE[0][0])) is not None:
        return None
    password_hash = hash_password(password, rounds)
    people = [User(email=email, name=name, password_hash=password_hash) for email, name in DEMO_PEOPLE]
    db.session.add_all(people)
    db.session.flush()
    for name, description, kind in DEMO_ROOMS:
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
            db.session.add(
                RoomMembership(room_id=room.id, user_id=person.id, role="owner" if index == 0 else "member")
            )
        if name == "general":
            for author, text in DEMO_CONVERSATION:
                db.session.add(Message(room_id=room.id, user_id=people[author].id, content=text))
    db.session.commit()
    return people
