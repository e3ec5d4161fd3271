"""MIME for the webmail: decoding what IMAP returns for display, and building what we send.

RFC 2045-2049 (MIME), RFC 2047 (encoded words), RFC 2231 (parameter values), RFC 1468
(ISO-2022-JP). Only the standard library's `email` package is used; the webmail never reads the
store's parse results, only what the IMAP server sends.
"""
