"""The Alembic revisions build exactly the schema the models describe, on SQLite and MySQL."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app.extensions import db

TABLES = {"users", "rooms", "room_memberships", "messages", "feedbacks", "api_tokens", "user_sessions"}
INSERT_ROOM = sa.text(
    "INSERT INTO rooms (name, name_key, description, kind, is_active, created_at)"
    " VALUES (:name, :key, '', 'public', 1, '2026-01-01 00:00:00')"
)


def _drop_everything() -> None:
    db.session.remove()
    db.drop_all()
    with db.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture
def empty_database(app):
    """An empty database for the migrations; the tables the other tests use come back after."""
    _drop_everything()
    yield
    _drop_everything()
    db.create_all()


@pytest.mark.usefixtures("empty_database")
def test_upgrade_creates_every_table():
    upgrade()
    assert set(sa.inspect(db.engine).get_table_names()) >= TABLES


@pytest.mark.usefixtures("empty_database")
def test_migrated_schema_matches_the_models():
    upgrade()
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


@pytest.mark.usefixtures("empty_database")
def test_downgrade_to_base_removes_every_table():
    upgrade()
    downgrade(revision="base")
    assert not TABLES & set(sa.inspect(db.engine).get_table_names())


@pytest.mark.usefixtures("empty_database")
def test_migrated_messages_keep_four_byte_emoji():
    upgrade()
    with db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO users (email, password_hash, name, role, is_active, session_version, created_at)"
                " VALUES ('e@example.com', 'x', :name, 'member', 1, 1, '2026-01-01 00:00:00')"
            ),
            {"name": "🦊 fox"},
        )
        assert connection.execute(sa.text("SELECT name FROM users")).scalar_one() == "🦊 fox"


@pytest.mark.usefixtures("empty_database")
def test_migrated_room_names_are_unique_ignoring_case():
    upgrade()
    with db.engine.begin() as connection:
        connection.execute(INSERT_ROOM, {"name": "General", "key": "general"})
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:
        connection.execute(INSERT_ROOM, {"name": "GENERAL", "key": "general"})


@pytest.mark.usefixtures("empty_database")
def test_migrated_name_keys_compare_byte_for_byte():
    """MySQL's case- and accent-insensitive collation must not decide; casefold() does, everywhere."""
    upgrade()
    with db.engine.begin() as connection:
        for key in ("cafe", "café", "Cafe"):
            connection.execute(INSERT_ROOM, {"name": key, "key": key})
        assert connection.execute(sa.text("SELECT COUNT(*) FROM rooms")).scalar_one() == 3


@pytest.mark.usefixtures("empty_database")
def test_upgrade_creates_the_configured_admin(app):
    from app.models import User

    app.config.update(ADMIN_EMAIL="Boss@Example.com", ADMIN_PASSWORD="a long admin password")
    upgrade()
    admin = db.session.scalar(sa.select(User).where(User.email == "boss@example.com"))
    assert admin is not None
    assert admin.role == "admin"
