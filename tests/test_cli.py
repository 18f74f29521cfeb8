"""`flask create-admin`, `flask seed-demo` and the ADMIN_EMAIL/ADMIN_PASSWORD start-up admin."""

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Message, Room, RoomMembership, User
from app.services import accounts
from tests.factories import PASSWORD, make_user

ADMIN_PASSWORD = "correct horse battery"
DEMO_EMAILS = ["alice@example.com", "bob@example.com", "carol@example.com"]


def fresh_user(email: str) -> User | None:
    """The user as the database has it now (the command committed in its own transaction)."""
    db.session.rollback()
    return accounts.find_user_by_email(email)


def login_status(app, email: str, password: str) -> int:
    return app.test_client().post("/auth/login", json={"email": email, "password": password}).status_code


def create_admin(runner, email="root@example.com", name="Root", password=ADMIN_PASSWORD):
    return runner.invoke(args=["create-admin", "--email", email, "--name", name, "--password", password])


def row_counts() -> tuple[int, ...]:
    db.session.rollback()
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (User, Room, RoomMembership, Message)
    )


# create-admin


def test_create_admin_creates_admin_who_can_sign_in(app, runner):
    result = create_admin(runner)

    assert result.exit_code == 0, result.output
    assert "root@example.com" in result.output
    user = fresh_user("root@example.com")
    assert (user.role, user.name, user.is_active) == ("admin", "Root", True)
    assert login_status(app, "root@example.com", ADMIN_PASSWORD) == 200


def test_create_admin_stores_email_lower_case(runner):
    result = create_admin(runner, email="Root@Example.COM")

    assert result.exit_code == 0, result.output
    assert fresh_user("root@example.com").role == "admin"


def test_create_admin_promotes_existing_account(app, runner):
    existing = make_user(email="mia@example.com", name="Mia")

    result = create_admin(runner, email="MIA@example.com", name="Someone Else", password="another passphrase")

    assert result.exit_code == 0, result.output
    user = fresh_user("mia@example.com")
    assert user.id == existing.id
    assert user.role == "admin"
    assert user.name == "Mia"
    assert login_status(app, "mia@example.com", PASSWORD) == 200
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.parametrize("password", ["short", "x" * 11, "x" * 129], ids=["5", "11", "129"])
def test_create_admin_refuses_password_of_bad_length(runner, password):
    result = create_admin(runner, password=password)

    assert result.exit_code != 0
    assert "password" in result.output
    assert fresh_user("root@example.com") is None


@pytest.mark.parametrize("email", ["not-an-email", "root@", "@example.com", ""])
def test_create_admin_refuses_invalid_email(runner, email):
    result = create_admin(runner, email=email)

    assert result.exit_code != 0
    assert "email" in result.output
    assert row_counts()[0] == 0


@pytest.mark.parametrize("name", ["", "   ", "n" * 65], ids=["empty", "blank", "long"])
def test_create_admin_refuses_invalid_name(runner, name):
    result = create_admin(runner, name=name)

    assert result.exit_code != 0
    assert fresh_user("root@example.com") is None


def test_create_admin_prompts_for_missing_values(app, runner):
    answers = f"prompted@example.com\nPrompted Admin\n{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n"

    result = runner.invoke(args=["create-admin"], input=answers)

    assert result.exit_code == 0, result.output
    assert ADMIN_PASSWORD not in result.output
    assert fresh_user("prompted@example.com").role == "admin"
    assert login_status(app, "prompted@example.com", ADMIN_PASSWORD) == 200


def test_create_admin_prompt_asks_again_when_confirmation_differs(app, runner):
    answers = (
        f"prompted@example.com\nPrompted Admin\n{ADMIN_PASSWORD}\nsomething else entirely\n"
        f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n"
    )

    result = runner.invoke(args=["create-admin"], input=answers)

    assert result.exit_code == 0, result.output
    assert login_status(app, "prompted@example.com", ADMIN_PASSWORD) == 200


# seed-demo


def seed(runner, *args: str):
    result = runner.invoke(args=["seed-demo", *args])
    assert result.exit_code == 0, result.output
    return result


def printed_password(output: str) -> str:
    match = re.search(r"password: (\S+)", output)
    assert match, output
    return match.group(1)


def test_seed_demo_adds_people_who_sign_in_with_printed_password(app, runner):
    password = printed_password(seed(runner).output)

    assert len(password) >= 12
    for email in DEMO_EMAILS:
        assert login_status(app, email, password) == 200, email


def test_seed_demo_uses_given_password(app, runner):
    seed(runner, "--password", ADMIN_PASSWORD)

    assert login_status(app, "bob@example.com", ADMIN_PASSWORD) == 200


def test_seed_demo_adds_rooms_with_members(runner):
    seed(runner)

    db.session.rollback()
    rooms = {room.name: room for room in db.session.scalars(select(Room))}
    assert set(rooms) == {"general", "random", "team"}
    assert {name: room.kind for name, room in rooms.items()} == {
        "general": "public",
        "random": "public",
        "team": "private",
    }
    assert rooms["team"].invite_code
    assert rooms["general"].invite_code is None
    for room in rooms.values():
        members = db.session.scalars(select(RoomMembership).where(RoomMembership.room_id == room.id)).all()
        assert len(members) == 3
        assert sorted(member.role for member in members) == ["member", "member", "owner"]


def test_seed_demo_adds_conversation_in_general(runner):
    seed(runner)

    db.session.rollback()
    general = db.session.scalar(select(Room).where(Room.name == "general"))
    messages = db.session.scalars(select(Message).order_by(Message.id)).all()
    assert len(messages) >= 2
    assert {message.room_id for message in messages} == {general.id}
    assert len({message.user_id for message in messages}) > 1


def test_seed_demo_twice_adds_nothing_the_second_time(runner):
    seed(runner)
    counts = row_counts()

    result = seed(runner)

    assert row_counts() == counts
    assert "nothing added" in result.output


def test_seed_demo_refuses_short_password(runner):
    result = runner.invoke(args=["seed-demo", "--password", "short"])

    assert result.exit_code != 0
    assert "password" in result.output
    assert row_counts() == (0, 0, 0, 0)


def test_seed_demo_leaves_existing_room_and_people_alone(app, runner):
    make_user(email="bob@example.com", name="Real Bob")
    owner = make_user()
    random_room = Room(name="Random", name_key="random", kind="public", created_by=owner.id)
    db.session.add(random_room)
    db.session.commit()

    result = seed(runner)

    db.session.rollback()
    assert login_status(app, "bob@example.com", PASSWORD) == 200
    assert fresh_user("bob@example.com").name == "Real Bob"
    assert login_status(app, "alice@example.com", printed_password(result.output)) == 200
    rooms = db.session.scalars(select(Room).order_by(Room.id)).all()
    assert [room.name for room in rooms] == ["Random", "general", "team"]
    assert rooms[0].created_by == owner.id


# ADMIN_EMAIL / ADMIN_PASSWORD


def test_configured_admin_is_created_once(make_app):
    app = make_app(ADMIN_EMAIL="Boss@Example.com", ADMIN_PASSWORD=ADMIN_PASSWORD)
    with app.app_context():
        first = accounts.ensure_configured_admin()
        second = accounts.ensure_configured_admin()

        assert first is not None
        assert second.id == first.id
        assert (first.email, first.role) == ("boss@example.com", "admin")
        assert db.session.scalar(select(func.count()).select_from(User)) == 1
        assert login_status(app, "boss@example.com", ADMIN_PASSWORD) == 200


def test_configured_admin_promotes_existing_account_without_changing_password(make_app):
    app = make_app(ADMIN_EMAIL="boss@example.com", ADMIN_PASSWORD=ADMIN_PASSWORD)
    with app.app_context():
        existing = make_user(email="boss@example.com")

        user = accounts.ensure_configured_admin()

        assert (user.id, user.role) == (existing.id, "admin")
        assert login_status(app, "boss@example.com", PASSWORD) == 200


@pytest.mark.parametrize(
    "config",
    [{"ADMIN_EMAIL": "boss@example.com"}, {"ADMIN_PASSWORD": ADMIN_PASSWORD}, {}],
    ids=["email-only", "password-only", "neither"],
)
def test_configured_admin_needs_both_email_and_password(make_app, config):
    app = make_app(**{"ADMIN_EMAIL": None, "ADMIN_PASSWORD": None, **config})
    with app.app_context():
        assert accounts.ensure_configured_admin() is None
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_create_admin_reactivates_a_deactivated_account(app, runner):
    user = make_user(email="dormant@example.com", is_active=False)
    result = runner.invoke(
        args=["create-admin", "--email", user.email, "--name", "Dormant", "--password", "ignored password!"]
    )
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(User, user.id).is_active is True


@pytest.mark.parametrize(
    ("email", "password"),
    [("admin@example.com", "short"), ("not an email", "a long enough password")],
)
def test_configured_admin_with_invalid_settings_is_not_created(make_app, caplog, email, password):
    app = make_app(ADMIN_EMAIL=email, ADMIN_PASSWORD=password)
    with app.app_context():
        assert accounts.ensure_configured_admin() is None
        assert db.session.scalar(select(func.count()).select_from(User)) == 0
    assert "not valid" in caplog.text
