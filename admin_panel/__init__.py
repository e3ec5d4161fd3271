"""The administration panel and the admin CLI: domains, accounts, aliases, rules, queue, logs."""
