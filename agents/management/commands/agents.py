"""`manage.py agents`: run the agents processes (SMTP, IMAP, POP3, ManageSieve listeners)."""

import sys

from django.core.management.base import BaseCommand

from agents.runner import agents_run


class Command(BaseCommand):
    help = "Run the mail agents: SMTP (MX and submission), IMAP, POP3 and ManageSieve."

    def handle(self, *args: object, **options: object) -> None:
        status = agents_run()
        if status:
            sys.exit(status)
