"""Sending through our own submission server (RFC 6409) with the session's token.

STARTTLS (RFC 3207), then AUTH OAUTHBEARER (RFC 7628), XOAUTH2, or PLAIN carrying the token issued
at login:
the webmail never holds the password. The MSA enforces that the sender is one of the account's
addresses; the webmail only offers those.
"""

from __future__ import annotations

import smtplib
import ssl

from django.conf import settings

from webmail.imap.pool import tls_context

SUBMISSION_TIMEOUT_SECONDS = 60


class SubmissionFailed(Exception):
    """The submission server refused the message; the text says why, in the server's words."""


def _initial_response(mechanism: str, address: str, token: str):
    def respond(challenge: bytes | None = None) -> str:
        if challenge is not None:
            return "\x01"  # RFC 7628 §3.2.3: acknowledge the error challenge so the server answers
        if mechanism == "OAUTHBEARER":
            safe = address.replace("=", "=3D").replace(",", "=2C")
            return f"n,a={safe},\x01auth=Bearer {token}\x01\x01"
        return f"user={address}\x01auth=Bearer {token}\x01\x01"

    return respond


def _reply_text(error: smtplib.SMTPResponseException) -> str:
    message = error.smtp_error
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{error.smtp_code} {text}"


def message_submit(*, address: str, token: str, sender: str, recipients: list[str], raw: bytes) -> None:
    host = settings.YUBIN_WEBMAIL_IMAP_HOST or settings.YUBIN_BIND
    try:
        with smtplib.SMTP(host, settings.YUBIN_PORT_SUBMISSION, timeout=SUBMISSION_TIMEOUT_SECONDS) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=tls_context())
                smtp.ehlo()
            mechanisms = (smtp.esmtp_features.get("auth") or "").upper().split()
            mechanism = next((m for m in ("OAUTHBEARER", "XOAUTH2") if m in mechanisms), None)
            if mechanism is not None:
                smtp.auth(mechanism, _initial_response(mechanism, address, token), initial_response_ok=True)
            elif "PLAIN" in mechanisms:
                # our MSA takes the bearer token as the AUTH PLAIN password (it checks its shape)
                smtp.user, smtp.password = address, token
                smtp.auth("PLAIN", smtp.auth_plain, initial_response_ok=True)
            else:
                raise SubmissionFailed("the submission server offers no usable authentication")
            refused = smtp.sendmail(sender, recipients, raw)
    except smtplib.SMTPRecipientsRefused as error:
        details = "; ".join(
            f"{rcpt}: {_reply_text(smtplib.SMTPResponseException(*reply))}" for rcpt, reply in error.recipients.items()
        )
        raise SubmissionFailed(details) from error
    except smtplib.SMTPResponseException as error:
        raise SubmissionFailed(_reply_text(error)) from error
    except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as error:
        raise SubmissionFailed(str(error) or error.__class__.__name__) from error
    if refused:
        details = "; ".join(f"{rcpt}: {reply[0]}" for rcpt, reply in refused.items())
        raise SubmissionFailed(details)
