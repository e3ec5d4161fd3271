"""The webmail: a browser mail client that talks to mail only over IMAP, submission and ManageSieve."""
