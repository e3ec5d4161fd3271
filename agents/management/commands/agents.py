"""`manage.py agents`: run the agents process (SMTP, IMAP, POP3, ManageSieve listeners)."""

import asyncio

from django.core.management.base import BaseCommand

from agents.runner import agents_main


class Command(BaseCommand):
    help = "Run the mail agents: SMTP (MX and submission), IMAP, POP3 and ManageSieve."

    def handle(self, *args: object, **options: object) -> None:
        asyncio.run(agents_main())
