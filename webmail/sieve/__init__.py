"""The user's folder rules and vacation reply, kept as a Sieve script (RFC 5228) over ManageSieve."""
