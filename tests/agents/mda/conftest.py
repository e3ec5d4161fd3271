"""The MDA tests deliver through the real SMTP server."""

from tests.agents.smtp.conftest import accounts, smtp_server

__all__ = ["accounts", "smtp_server"]
