"""Subcommand groups of `manage.py yubin`; each module defines register(subparsers)."""
