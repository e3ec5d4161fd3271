"""Folders, messages and blobs with IMAP semantics (RFC 3501 §2.3, RFC 7162), Sieve scripts."""

from __future__ import annotations

from django.db import models

from store.models.directory import Account, Domain


class SpecialUse(models.TextChoices):
    """RFC 6154 special-use attributes; INBOX is marked with 'inbox' for convenience."""

    NONE = "", "None"
    INBOX = "inbox", "Inbox"
    SENT = "\\Sent", "Sent"
    DRAFTS = "\\Drafts", "Drafts"
    TRASH = "\\Trash", "Trash"
    JUNK = "\\Junk", "Junk"
    ARCHIVE = "\\Archive", "Archive"


class Flag:
    """System flags as bits of Message.flags; keywords live in Message.keywords."""

    SEEN = 1
    ANSWERED = 2
    FLAGGED = 4
    DELETED = 8
    DRAFT = 16

    NAMES = {"\\Seen": SEEN, "\\Answered": ANSWERED, "\\Flagged": FLAGGED, "\\Deleted": DELETED, "\\Draft": DRAFT}
    ORDER = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
    _BY_FOLDED = {name.lower(): bit for name, bit in NAMES.items()}
    KEYWORD_MAX_LENGTH = 100  # Dovecot refuses longer keywords too

    @classmethod
    def to_names(cls, bits: int) -> list[str]:
        return [name for name in cls.ORDER if bits & cls.NAMES[name]]

    @classmethod
    def bit(cls, name: str) -> int:
        """The bit of a system flag named in any case (flag names ignore case); 0 for a name that
        is no stored flag (\\Recent is a session's, never stored)."""
        return cls._BY_FOLDED.get(name.lower(), 0)


class Folder(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="folders")
    name = models.CharField(max_length=1000)  # Unicode; "/" is the hierarchy separator; "INBOX" exact
    uid_validity = models.BigIntegerField()
    uid_next = models.BigIntegerField(default=1)
    highest_modseq = models.BigIntegerField(default=1)
    special_use = models.CharField(max_length=16, blank=True, default="", choices=SpecialUse.choices)
    message_count = models.IntegerField(default=0)
    unseen_count = models.IntegerField(default=0)
    total_bytes = models.BigIntegerField(default=0)
    # IMAP \Recent (RFC 3501 §2.3.2): the first UID no read-write session has been told about yet.
    # A session that SELECTs the folder, or sees new mail while it is selected, claims the UIDs
    # below uid_next by moving this on; only that session shows them as \Recent.
    recent_uid = models.BigIntegerField(default=1)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        unique_together = [("account", "name")]
        ordering = ["account", "name"]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.name}"


class Subscription(models.Model):
    """A name on an account's subscription list (RFC 3501 §6.3.6, LSUB and LIST (SUBSCRIBED)).

    Apart from the folders: a deleted folder's name stays subscribed, as RFC 3501 requires (a
    server MUST NOT remove a name from the list because its mailbox is gone), and lists as
    \\NonExistent until it is unsubscribed or made again. CREATE subscribes the new folder.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="subscriptions")
    name = models.CharField(max_length=1000)

    class Meta:
        unique_together = [("account", "name")]
        ordering = ["account", "name"]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.name}"


class Blob(models.Model):
    """An immutable, content-addressed message (DESIGN rule 5): its bytes in a file of the blob
    directory, or, for a message of at most YUBIN_BLOB_INLINE_MAX bytes, in its BlobData row."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.BigIntegerField()
    refcount = models.IntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    # Parse results, kept once per blob so a message to many recipients is parsed once.
    envelope = models.JSONField()
    body = models.JSONField()
    # The message as POP3 sends it (RFC 1939 §3), worked out once from the bytes at write time
    # (store.blobs.wire_facts); NULL on rows older than these columns until first needed.
    wire_size = models.BigIntegerField(null=True)  # size with every line ending CRLF, last line terminated
    wire_crlf = models.BooleanField(null=True)  # the bytes already are that form: sent as stored
    wire_dots = models.BooleanField(null=True)  # some line starts with "." (dot-stuffing needed)


class BlobData(models.Model):
    """The bytes of a small blob, written by the transaction that first names it: the commit
    that makes the delivery durable makes the bytes durable too, with no file of its own to
    create and fsync (see store.blobs)."""

    blob = models.OneToOneField(Blob, primary_key=True, on_delete=models.CASCADE, db_column="sha256", related_name="+")
    data = models.BinaryField()


class Message(models.Model):
    # No separate folder index: the (folder, uid) unique index serves every folder lookup.
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="messages", db_index=False)
    uid = models.BigIntegerField()
    modseq = models.BigIntegerField()
    flags = models.IntegerField(default=0)  # Flag bits
    keywords = models.JSONField(default=list, blank=True)
    internal_date = models.DateTimeField()
    size = models.BigIntegerField()
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="messages")
    # Sort keys and search text (RFC 5256, RFC 5957), taken from the parse at delivery.
    date_sent = models.DateTimeField(null=True)
    subject = models.TextField(blank=True, default="")
    subject_base = models.TextField(blank=True, default="")
    from_display = models.TextField(blank=True, default="")
    to_display = models.TextField(blank=True, default="")
    cc_display = models.TextField(blank=True, default="")
    bcc_display = models.TextField(blank=True, default="")
    from_sort = models.CharField(max_length=320, blank=True, default="")
    to_sort = models.CharField(max_length=320, blank=True, default="")
    cc_sort = models.CharField(max_length=320, blank=True, default="")
    display_from = models.CharField(max_length=320, blank=True, default="")
    message_id = models.CharField(max_length=998, blank=True, default="")
    in_reply_to = models.TextField(blank=True, default="")
    references = models.JSONField(default=list, blank=True)
    has_attachments = models.BooleanField(default=False)
    preview = models.CharField(max_length=256, blank=True, default="")
    search_headers = models.TextField(blank=True, default="")
    # On SQLite a delivery leaves it empty and the search indexer fills it after the commit
    # (store.services.search_index); SEARCH works out what is missing above the index's mark.
    search_body = models.TextField(blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["folder", "uid"], name="message_folder_uid")]
        indexes = [
            models.Index(fields=["folder", "modseq"], name="message_folder_modseq"),
            models.Index(fields=["folder", "date_sent"], name="message_folder_date"),
            models.Index(fields=["folder", "internal_date"], name="message_folder_arrival"),
            models.Index(fields=["message_id"], name="message_message_id"),
        ]
        ordering = ["folder", "uid"]


class Expunged(models.Model):
    """UIDs removed from a folder with the MODSEQ of removal, for QRESYNC VANISHED (RFC 7162)."""

    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="expunged")
    uid = models.BigIntegerField()
    modseq = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["folder", "modseq"], name="expunged_folder_modseq")]


class SieveScript(models.Model):
    """Folder rules (RFC 5228) of an account or of a whole domain."""

    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.CASCADE, related_name="sieve_scripts")
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.CASCADE, related_name="sieve_scripts")
    name = models.CharField(max_length=200)
    content = models.TextField()
    active = models.BooleanField(default=False)
    last_error = models.TextField(blank=True, default="")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="sieve_account_name"),
            models.UniqueConstraint(fields=["domain", "name"], name="sieve_domain_name"),
        ]


class MaildropLock(models.Model):
    """The exclusive-access lock of an account's POP3 maildrop (RFC 1939 §8), across processes."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, primary_key=True, related_name="+")
    token = models.CharField(max_length=64)
    expires = models.DateTimeField()
