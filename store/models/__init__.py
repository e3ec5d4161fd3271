"""Models of the shared store, one module per area."""

from store.models.directory import AccessToken, Account, Alias, DkimKey, Domain, Role
from store.models.log import ChangeEvent, DeliveryLog, LogEvent, LoginEvent
from store.models.mail import (
    Blob,
    BlobData,
    Expunged,
    Flag,
    Folder,
    MaildropLock,
    Message,
    SieveScript,
    SpecialUse,
    Subscription,
)
from store.models.queue import OutboundMessage, OutboundRecipient, QueueState
from store.models.smtp import VacationReply

__all__ = [
    "AccessToken",
    "Account",
    "Alias",
    "Blob",
    "BlobData",
    "ChangeEvent",
    "DeliveryLog",
    "DkimKey",
    "Domain",
    "Expunged",
    "Flag",
    "Folder",
    "LogEvent",
    "LoginEvent",
    "MaildropLock",
    "Message",
    "OutboundMessage",
    "OutboundRecipient",
    "QueueState",
    "Role",
    "SieveScript",
    "SpecialUse",
    "Subscription",
    "VacationReply",
]
