"""The protocol servers and workers: SMTP (MSA, MX), MDA, MTA, IMAP, POP3, ManageSieve."""
