"""Webmail views, one module per area: auth, mailbox, message, compose, organise, search, settings, rules, live."""
