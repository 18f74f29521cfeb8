"""`flask` commands: create-admin and seed-demo."""

import secrets

import click
from flask import current_app

from app.controllers.parsing import parse_model
from app.errors import ApiError
from app.schemas.auth import RegisterIn
from app.services import accounts, demo


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
    verb = "Created" if created else "Promoted existing account"
    click.echo(f"{verb} admin {user.email} (id {user.id}).")


@click.command("seed-demo")
@click.option("--password", default=None, help="Password of the demo users; random when left out.")
def seed_demo(password: str | None) -> None:
    """Add demo users (alice, bob, carol @example.com), rooms and messages."""
    password = password or secrets.token_urlsafe(12)
    people = demo.seed_demo_data(password, current_app.config["BCRYPT_ROUNDS"])
    if people is None:
        click.echo("Demo data exists already; nothing added.")
        return
    emails = ", ".join(person.email for person in people)
    click.echo(f"Added demo users {emails} with the password: {password}")
