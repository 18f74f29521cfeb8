"""`flask` commands: create-admin, seed-demo and purge-sessions."""

import secrets

import click
from flask import current_app
from pydantic import TypeAdapter, ValidationError

from app.errors import ApiError
from app.schemas.auth import RegisterIn
from app.schemas.common import Password
from app.schemas.validation import parse_model
from app.services import accounts, demo, sessions

_password = TypeAdapter(Password)


@click.command("create-admin")
@click.option("--email", prompt=True, help="The admin's email.")
@click.option("--name", prompt=True, help="The admin's display name.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="12 to 128 characters; prompted (hidden) when left out.",
)
def create_admin(email: str, name: str, password: str) -> None:
    """Create an admin account, or promote an existing account to admin."""
    try:
        body = parse_model(RegisterIn, {"email": email, "password": password, "name": name})
        user, created = accounts.ensure_admin(body.email, body.password, body.name)
    except ApiError as error:
        reasons = "; ".join(f"{field}: {why}" for field, why in (error.fields or {}).items())
        raise click.ClickException(f"{error.message} {reasons}".strip()) from None
    if created:
        click.echo(f"Created admin {user.email} (id {user.id}).")
    else:
        click.echo(f"Promoted {user.email} (id {user.id}) to admin; its password is unchanged.")


@click.command("seed-demo")
@click.option(
    "--password", default=None, help="Password of the demo users (12 to 128 characters); random if left out."
)
def seed_demo(password: str | None) -> None:
    """Add demo users (alice, bob, carol @example.com), rooms and messages; what exists is kept."""
    if password is not None:
        try:
            _password.validate_python(password)
        except ValidationError as error:
            raise click.ClickException(f"password: {error.errors()[0]['msg']}") from None
    password = password or secrets.token_urlsafe(12)
    added = demo.seed_demo_data(password, current_app.config["BCRYPT_ROUNDS"])
    if not added.added_anything:
        click.echo("Demo data exists already; nothing added.")
        return
    if added.people:
        emails = ", ".join(person.email for person in added.people)
        click.echo(f"Added demo users {emails} with the password: {password}")
    if added.rooms:
        click.echo(f"Added demo rooms: {', '.join(room.name for room in added.rooms)}")


@click.command("purge-sessions")
def purge_sessions() -> None:
    """Delete the browser sessions unused for SESSION_LIFETIME_DAYS (a sign-in purges its user's)."""
    click.echo(f"Deleted {sessions.purge_expired()} expired sessions.")
