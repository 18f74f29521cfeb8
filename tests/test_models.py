"""Model-level guarantees: aware UTC times, case-insensitive room names, idempotency keys."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Message, Room, User
from app.models.room import room_name_key
from tests.factories import make_user


def _room(name: str) -> Room:
    return Room(name=name, name_key=room_name_key(name))


def _stored_room(name: str = "general") -> Room:
    room = _room(name)
    db.session.add(room)
    db.session.flush()
    return room


def test_times_come_back_aware_utc(app):
    user = make_user()
    db.session.expire_all()
    created = db.session.get(User, user.id).created_at
    assert created.tzinfo is UTC
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)


def test_times_keep_microseconds(app):
    user = make_user()
    moment = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
    user.last_seen_at = moment
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(User, user.id).last_seen_at == moment


def test_other_time_zones_are_stored_as_utc(app):
    user = make_user()
    user.last_seen_at = datetime(2026, 5, 4, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(User, user.id).last_seen_at == datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def test_naive_datetimes_are_refused(app):
    user = make_user()
    user.last_seen_at = datetime(2026, 5, 4, 12, 0)
    with pytest.raises(sa.exc.StatementError):
        db.session.commit()
    db.session.rollback()


def test_room_names_differing_in_case_collide(app):
    db.session.add(_room("Général"))
    db.session.commit()
    db.session.add(_room("GÉNÉRAL"))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_room_names_differing_in_accents_do_not_collide(app):
    db.session.add_all([_room("cafe"), _room("café")])
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Room)) == 2


def test_client_id_is_unique_per_user_only(app):
    alice, bob = make_user(), make_user()
    room = _stored_room()
    db.session.add_all(
        [
            Message(room_id=room.id, user_id=alice.id, content="hi", client_id="c-1"),
            Message(room_id=room.id, user_id=bob.id, content="hi", client_id="c-1"),
            Message(room_id=room.id, user_id=alice.id, content="no key"),
            Message(room_id=room.id, user_id=alice.id, content="no key either"),
        ]
    )
    db.session.commit()
    db.session.add(Message(room_id=room.id, user_id=alice.id, content="again", client_id="c-1"))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_client_ids_differing_in_case_are_different(app):
    alice = make_user()
    room = _stored_room()
    db.session.add_all(
        [
            Message(room_id=room.id, user_id=alice.id, content="a", client_id="abc"),
            Message(room_id=room.id, user_id=alice.id, content="b", client_id="ABC"),
        ]
    )
    db.session.commit()


def test_deleting_a_room_deletes_its_messages(app):
    alice = make_user()
    room = _stored_room("doomed")
    db.session.add(Message(room_id=room.id, user_id=alice.id, content="bye"))
    db.session.commit()
    db.session.execute(sa.delete(Room).where(Room.id == room.id))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0
