"""Outgoing mail through Flask-Mail, sent off the request thread.

With MAIL_SERVER unset, mail is logged instead of sent (DESIGN §2). Sending happens in a
background thread so that a slow or down SMTP server neither delays nor fails the request,
and so that a reply takes as long whether or not a mail was sent.
"""

import logging
import threading

from flask import Flask, current_app
from flask_mail import Message

from app.extensions import mail

log = logging.getLogger(__name__)


def _deliver(app: Flask, message: Message) -> None:
    with app.app_context():
        try:
            mail.send(message)
        except Exception:  # any SMTP or socket failure: the caller has already answered
            log.exception("sending mail %r to %s failed", message.subject, message.recipients)


def send_mail(
    subject: str, recipients: list[str], body: str, *, reply_to: str | None = None
) -> threading.Thread | None:
    """Send a plain-text mail in the background; returns the sending thread, None when only logged."""
    if not recipients:
        return None
    if not current_app.config.get("MAIL_SERVER"):
        log.info("MAIL_SERVER unset; mail not sent. To: %s Subject: %s\n%s", recipients, subject, body)
        return None
    message = Message(subject=subject, recipients=recipients, body=body, reply_to=reply_to)
    thread = threading.Thread(
        target=_deliver, args=(current_app._get_current_object(), message), name="parley-mail", daemon=True
    )
    thread.start()
    return thread
