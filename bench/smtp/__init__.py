"""SMTP benchmark: Yubin's MX against Postfix delivering into Maildir, driven by smtp-source."""
