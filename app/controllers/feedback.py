"""/feedback: anyone sends it; admins list and triage it."""

from flask import Blueprint
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app import rate_limits
from app.openapi import endpoint
from app.schemas.feedback import (
    FeedbackEnvelope,
    FeedbackIn,
    FeedbackPageOut,
    FeedbackQuery,
    FeedbackStatusIn,
    serialize_feedback,
)
from app.security import signed_in_user
from app.services import feedback

bp = Blueprint("feedback", __name__, url_prefix="/feedback")
TAGS = ["feedback"]


@bp.post("")
@endpoint(access="anyone", body=FeedbackIn, responses={201: FeedbackEnvelope}, errors=[403, 429], tags=TAGS)
@rate_limits.feedback
def submit_feedback(body: FeedbackIn) -> ResponseReturnValue:
    """Send feedback; when not signed in, name and email are required (403: a session without CSRF token)."""
    user = signed_in_user() if current_user.is_authenticated else None
    item = feedback.submit_feedback(user, body.subject, body.message, body.name, body.email)
    return {"feedback": serialize_feedback(item)}, 201


@bp.get("")
@endpoint(access="admin", query=FeedbackQuery, responses={200: FeedbackPageOut}, tags=TAGS)
def list_feedback(params: FeedbackQuery) -> ResponseReturnValue:
    """Feedback newest first, optionally of one status (admins)."""
    items, total = feedback.list_feedback(params.status, params.page, params.per_page)
    return {"feedback": [serialize_feedback(item) for item in items], "total": total}


@bp.patch("/<int:feedback_id>")
@endpoint(access="admin", body=FeedbackStatusIn, responses={200: FeedbackEnvelope}, errors=[404], tags=TAGS)
def triage_feedback(feedback_id: int, body: FeedbackStatusIn) -> ResponseReturnValue:
    """Set a feedback item's status (admins)."""
    return {"feedback": serialize_feedback(feedback.set_status(feedback_id, body.status))}
