"""The webmail's IMAP side: a connection pool per web session and the mailbox operations."""
