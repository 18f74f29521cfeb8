"""SQLAlchemy models, one module per table."""

from app.models.api_token import ApiToken
from app.models.base import Base, utcnow
from app.models.feedback import Feedback
from app.models.membership import RoomMembership
from app.models.message import Message
from app.models.room import Room
from app.models.user import User
from app.models.user_session import UserSession

__all__ = [
    "ApiToken",
    "Base",
    "Feedback",
    "Message",
    "Room",
    "RoomMembership",
    "User",
    "UserSession",
    "utcnow",
]
