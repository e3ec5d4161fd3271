"""SMTP agents: MX (RFC 5321) and message submission (RFC 6409, RFC 8314) on aiosmtpd."""
