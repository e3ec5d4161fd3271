"""The relay (MTA): the outbound queue worked by Celery, MX lookup, SMTP client, DSNs, DKIM signing."""
