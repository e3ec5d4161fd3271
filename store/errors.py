"""Typed errors raised by store services; callers turn them into protocol replies."""


class StoreError(Exception):
    """Base of every error a store service raises on purpose."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class InvalidName(StoreError):
    pass


class QuotaExceeded(StoreError):
    pass


class LimitReached(StoreError):
    pass


class AliasLoop(StoreError):
    pass
