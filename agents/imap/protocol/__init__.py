"""IMAP wire basics, apart from the server: parser, sequence sets, modified UTF-7, responses, structures."""
