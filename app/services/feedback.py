"""Feedback: stored first, then mailed; admins triage it."""

import logging

import sqlalchemy as sa
from flask import current_app

from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import Feedback, User
from app.services import mailer

log = logging.getLogger(__name__)


def _sender(user: User | None, name: str | None, email: str | None) -> tuple[str, str]:
    if user is not None:
        return name or user.name, email or user.email
    missing = {
        field: "required when not signed in"
        for field, value in (("name", name), ("email", email))
        if not value
    }
    if missing:
        raise ValidationFailed(fields=missing)
    return name, email


def recipients() -> list[str]:
    """FEEDBACK_RECIPIENTS, or else every active admin's email."""
    configured = current_app.config.get("FEEDBACK_RECIPIENTS") or []
    if configured:
        return list(configured)
    query = sa.select(User.email).where(User.role == "admin", User.is_active.is_(True)).order_by(User.id)
    return list(db.session.scalars(query))


def _mail(item: Feedback) -> None:
    try:
        mailer.send_mail(
            subject=f"[Parley feedback] {item.subject}",
            recipients=recipients(),
            body=f"From: {item.name} <{item.email}>\n\n{item.message}\n",
            reply_to=item.email,
        )
    except Exception:  # stored already: a mail problem must neither lose it nor fail the request
        log.exception("mailing feedback %s failed", item.id)


def submit_feedback(
    user: User | None, subject: str, message: str, name: str | None = None, email: str | None = None
) -> Feedback:
    """Store feedback (name and email required when anonymous), then mail it to the recipients."""
    sender_name, sender_email = _sender(user, name, email)
    item = Feedback(
        user_id=user.id if user else None,
        name=sender_name,
        email=sender_email,
        subject=subject,
        message=message,
    )
    db.session.add(item)
    db.session.commit()
    _mail(item)
    return item


def list_feedback(status: str | None = None, page: int = 1, per_page: int = 50) -> tuple[list[Feedback], int]:
    """Feedback newest first, optionally of one status: one page and the total."""
    condition = Feedback.status == status if status else sa.true()
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Feedback).where(condition)) or 0
    query = sa.select(Feedback).where(condition).order_by(Feedback.id.desc())
    items = db.session.scalars(query.offset((page - 1) * per_page).limit(per_page))
    return list(items), total


def set_status(feedback_id: int, status: str) -> Feedback:
    """Triage one feedback item (new, read, archived)."""
    item = db.session.get(Feedback, feedback_id)
    if item is None:
        raise NotFound("No such feedback.", code="feedback_not_found")
    item.status = status
    db.session.commit()
    return item
