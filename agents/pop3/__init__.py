"""POP3 server (RFC 1939, CAPA RFC 2449, STLS RFC 2595, SASL RFC 5034): the INBOX for download clients."""
