"""Account emails: rendered from templates, with links built from PUBLIC_URL."""

from __future__ import annotations

import logging
import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


class EmailNotSent(Exception):
    """The mail server refused or could not be reached; the reason is logged, not carried."""


def public_link(path: str) -> str:
    """An absolute link to `path` on this deployment, from PUBLIC_URL: never from a request's
    Host header, which the client chooses (a forged Host would send reset links elsewhere)."""
    return f"{settings.PUBLIC_URL}{path}"


def account_email_send(*, to: str, template: str, context: dict[str, Any]) -> None:
    """Render `template`_subject.txt and `template`.txt and send them to `to`.

    Templates get only what the product wrote and the recipient's own address: never text
    chosen by whoever asked for the mail (a name), which could dress a phishing message up as
    ours when the address is not yet proven to be theirs.
    """
    subject = render_to_string(f"{template}_subject.txt", context).strip()
    body = render_to_string(f"{template}.txt", context)
    try:
        send_mail(subject, body, None, [to])
    except (smtplib.SMTPException, OSError, UnicodeError, ValueError) as exc:
        # Only the exception's type: its text may quote the message, which holds a token.
        logger.error("Email %s could not be sent: %s", template, type(exc).__name__)
        raise EmailNotSent(template) from None
