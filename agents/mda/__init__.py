"""Mail delivery agent: alias expansion, Sieve folder rules (RFC 5228), vacation (RFC 5230)."""
