"""Message services: deliver, append, flags, copy, move, expunge (RFC 3501, RFC 4315, RFC 6851, RFC 7162).

Every change takes the folder row's lock, gives the change one new MODSEQ (the folder's
highest_modseq + 1), keeps the folder's counters and the account's quota usage exact, and
records a change event that is published after commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.models import F
from django.utils import timezone

from store.blobs import WireFacts, blob_digest, blob_inline, blob_write, blobs_write, wire_facts
from store.changes import change_record, changes_record, changes_send
from store.errors import AlreadyExists, InvalidName, NotFound, QuotaExceeded
from store.models import Account, Blob, BlobData, DeliveryLog, Expunged, Flag, Folder, Message
from store.parse import ParsedMessage, parse_message
from store.selectors.imap import keywords_tuple
from store.services.search_index import search_at_delivery
from store.sql import Cursor, driver_cursor, pipelined


@dataclass(frozen=True)
class DeliveryTarget:
    account_id: int
    folder: str = "INBOX"
    flags: int = 0
    keywords: tuple[str, ...] = ()
    create_folder: bool = False  # Sieve fileinto :create; otherwise a missing folder means INBOX


@dataclass(frozen=True)
class Delivered:
    account_id: int
    folder_id: int
    folder: str
    uid: int


@dataclass
class DeliveryResult:
    blob: str
    delivered: list[Delivered] = field(default_factory=list)
    over_quota: list[DeliveryTarget] = field(default_factory=list)
    error: str = ""  # batch delivery only: why nothing of this item was delivered
    logged: bool = False  # batch delivery only: the item's log.received rows were written


@dataclass(frozen=True)
class DeliveryLogEntry:
    """What the delivery log records for each delivered copy of a batch item."""

    sender: str = ""
    client_ip: str | None = None
    tls: bool = False
    addresses: Mapping[int, str] = field(default_factory=dict)  # account id -> address, for tracking
    rules: Mapping[int, str] = field(default_factory=dict)  # account id -> the rule that filed the copy
    # Rows of the item's earlier steps (the SMTP server's "received" lines), written before its
    # "delivered" rows in the same insert when some copy is delivered (DeliveryResult.logged);
    # else left to the caller.
    received: Sequence[Mapping[str, object]] = ()


@dataclass(frozen=True)
class DeliveryItem:
    """One message of a batch delivery and the folders it goes to.

    enforce_quota=False delivers every copy regardless of quota. quota_grace=True delivers the
    over-quota copies too when at least one copy of the item fits (they are still reported in
    over_quota), like Dovecot's quota_grace: once the message is accepted, no copy is lost.
    """

    raw: bytes
    targets: Sequence[DeliveryTarget]
    parsed: ParsedMessage | None = None
    internal_date: datetime | None = None
    enforce_quota: bool = True
    quota_grace: bool = False
    log: DeliveryLogEntry | None = None
    # The caller writes the blob itself (store.blobs.blob_write) and makes sure it is durable
    # before the transaction commits, e.g. on another thread while the rows are inserted.
    blob_written_by_caller: bool = False
    # The message's POP3/SMTP wire facts when the caller knows them (the SMTP server does, from
    # its DATA reader's checks); None: worked out from the bytes.
    wire: WireFacts | None = None


@dataclass(frozen=True)
class AppendResult:
    uid_validity: int
    uid: int


@dataclass(frozen=True)
class CopyResult:
    uid_validity: int  # of the destination folder
    uid_map: list[tuple[int, int]]  # (source uid, destination uid), ascending by source uid


@dataclass(frozen=True)
class FlagChange:
    """A message whose flags changed: its new flags, keywords and MODSEQ."""

    uid: int
    flags: int
    keywords: list[str]
    modseq: int


@dataclass
class FlagsResult:
    modseq: int
    changed: list[FlagChange]  # messages whose flags changed, with the new modseq
    failed_uids: list[int]  # UNCHANGEDSINCE failures (RFC 7162 §3.1.3 MODIFIED)


def _message_fields(parsed: ParsedMessage) -> dict[str, object]:
    return {
        "size": parsed.size,
        "date_sent": parsed.date_sent,
        "subject": parsed.subject[:10000],
        "subject_base": parsed.subject_base[:10000],
        "from_display": parsed.from_display[:10000],
        "to_display": parsed.to_display[:10000],
        "cc_display": parsed.cc_display[:10000],
        "bcc_display": parsed.bcc_display[:10000],
        "from_sort": parsed.from_sort[:320],
        "to_sort": parsed.to_sort[:320],
        "cc_sort": parsed.cc_sort[:320],
        "display_from": parsed.display_from[:320],
        "message_id": parsed.message_id[:998],
        "in_reply_to": parsed.in_reply_to[:10000],
        "references": parsed.references[:500],
        "has_attachments": parsed.has_attachments,
        "preview": parsed.preview[:256],
        "search_headers": parsed.search_headers,
        "search_body": parsed.search_body,
    }


def _copy_fields(message: Message) -> dict[str, object]:
    names = (
        "size date_sent subject subject_base from_display to_display cc_display bcc_display from_sort to_sort "
        "cc_sort display_from message_id in_reply_to references has_attachments preview search_headers "
        "search_body flags keywords internal_date blob_id"
    ).split()
    return {name: getattr(message, name) for name in names}


def _lock_folder(folder_id: int) -> Folder:
    # No ORDER BY (first() would add one, and the model's ordering a join): one row by key.
    found = list(Folder.objects.select_for_update().filter(pk=folder_id).order_by()[:1])
    if not found:
        raise NotFound("no such folder")
    return found[0]


def _add_messages(folder: Folder, rows: list[dict[str, object]]) -> list[Message]:
    """Insert rows into a locked folder with fresh UIDs and one new MODSEQ; update counters."""
    modseq = folder.highest_modseq + 1
    first_uid = folder.uid_next
    messages = [Message(folder_id=folder.pk, uid=first_uid + i, modseq=modseq, **row) for i, row in enumerate(rows)]
    Message.objects.bulk_create(messages)
    added_bytes = sum(int(str(row["size"])) for row in rows)
    unseen = sum(1 for row in rows if not int(str(row.get("flags", 0))) & Flag.SEEN)
    Folder.objects.filter(pk=folder.pk).update(
        uid_next=first_uid + len(rows),
        highest_modseq=modseq,
        message_count=F("message_count") + len(rows),
        unseen_count=F("unseen_count") + unseen,
        total_bytes=F("total_bytes") + added_bytes,
    )
    Account.objects.filter(pk=folder.account_id).update(used_bytes=F("used_bytes") + added_bytes)
    for blob_id in {row["blob_id"] for row in rows}:
        count = sum(1 for row in rows if row["blob_id"] == blob_id)
        Blob.objects.filter(pk=blob_id).update(refcount=F("refcount") + count)
    folder.uid_next = first_uid + len(rows)
    folder.highest_modseq = modseq
    change_record(account_id=folder.account_id, folder_id=folder.pk, kind="add", modseq=modseq)
    return messages


def message_deliver(
    *,
    raw: bytes,
    targets: Sequence[DeliveryTarget],
    internal_date: datetime | None = None,
    parsed: ParsedMessage | None = None,
    enforce_quota: bool = True,
) -> DeliveryResult:
    """Deliver one message to many folders: one blob, one parse, one transaction.

    A target whose account is over quota is skipped and reported in `over_quota`; the others are
    delivered. When this returns, every delivered copy is committed (DESIGN rule 1).
    """
    item = DeliveryItem(
        raw=raw, targets=targets, parsed=parsed, internal_date=internal_date, enforce_quota=enforce_quota
    )
    (result,) = messages_deliver_batch(items=[item])
    if result.error:
        raise NotFound(result.error)
    return result


@dataclass
class _FolderState:
    pk: int
    account_id: int
    name: str
    uid_next: int
    modseq: int  # the batch's one new MODSEQ for this folder
    added: int = 0
    unseen: int = 0
    bytes: int = 0


_FOLDER_COLUMNS = ("pk", "account_id", "name", "uid_next", "highest_modseq")


def _stored_name(name: str) -> str:
    from store.services.folders import folder_name_normalize

    try:
        return folder_name_normalize(name)
    except InvalidName:
        return "INBOX"


def _folder_state(row: tuple[int, int, str, int, int]) -> _FolderState:
    pk, account_id, name, uid_next, highest_modseq = row
    return _FolderState(pk, account_id, name, uid_next, highest_modseq + 1)


def _folder_for(folders: dict[tuple[int, str], _FolderState], target: DeliveryTarget, name: str) -> _FolderState | None:
    """The locked folder a target goes to: its own, created with :create, or else INBOX."""
    from store.services.folders import folder_create

    folder = folders.get((target.account_id, name))
    if folder is None and target.create_folder and name != "INBOX":
        try:
            folder_create(account=Account.objects.get(pk=target.account_id), name=name)
        except (AlreadyExists, InvalidName):
            pass
        row = Folder.objects.select_for_update().filter(account_id=target.account_id, name=name)
        for values in row.values_list(*_FOLDER_COLUMNS):
            folder = folders[(target.account_id, name)] = _folder_state(values)
    if folder is None:
        folder = folders.get((target.account_id, "INBOX"))
    return folder


# How each field's Python value becomes the value the driver is given, as the ORM's
# get_db_prep_save would make it: None for the fields where that is the value itself (the str,
# int and bool values the services put in them), else a function of the value. Dates and JSON,
# the common cases, call the backend's adapter directly (the ORM's chain of prep methods around
# it cost more than the rest of a delivery's inserts); anything unusual takes the ORM's path.
_PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField, models.ForeignKey)
Converter = Callable[[object], object] | None
Prepared = list[tuple[models.Field, Converter]]
_INSERTS: dict[tuple[type[models.Model], str, str], tuple[Prepared, str]] = {}


def _converter(field: models.Field) -> Converter:
    if isinstance(field, _PLAIN_FIELDS):
        return None
    ops = connection.ops
    orm = field.get_db_prep_save
    if isinstance(field, models.DateTimeField):
        adapt_datetime = ops.adapt_datetimefield_value

        def datetime_value(value: object) -> object:
            if type(value) is datetime and value.tzinfo is not None:
                return adapt_datetime(value)
            return orm(value, connection)

        return datetime_value
    if isinstance(field, models.JSONField):
        adapt_json, encoder = ops.adapt_json_value, field.encoder

        def json_value(value: object) -> object:
            if isinstance(value, dict | list | str | int | float | bool):
                return adapt_json(value, encoder)
            return orm(value, connection)

        return json_value
    if isinstance(field, models.GenericIPAddressField):  # the client address of every log row
        adapt_address, prep = ops.adapt_ipaddressfield_value, field.get_prep_value
        return lambda value: adapt_address(prep(value))
    if isinstance(field, models.BinaryField):  # the bytes of a message kept in the database
        binary = connection.Database.Binary  # type: ignore[attr-defined]

        def binary_value(value: object) -> object:
            return binary(value) if isinstance(value, bytes | bytearray | memoryview) else orm(value, connection)

        return binary_value
    return lambda value: orm(value, connection)


def _insert(
    model: type[models.Model], rows: list[dict[str, object]], *, on_conflict: str = "", cursor: Cursor | None = None
) -> None:
    """Insert rows with one executemany: bulk_create without its per-call query compilation.

    Missing fields get their default (auto_now_add: now); every value is stored exactly as the
    ORM stores it (see _converter). on_conflict: an ON CONFLICT clause to end the statement.
    cursor: a driver_cursor of the caller's, for several statements in a row.
    """
    prepared, sql = _insert_statement(model, on_conflict)
    params = _insert_params(prepared, rows)
    with nullcontext(cursor) if cursor is not None else driver_cursor() as used:
        used.executemany(sql, params)


RETURNING_CHUNK = 500  # rows per INSERT ... RETURNING (SQLite allows 32,766 parameters per statement)


def _insert_returning_ids(model: type[models.Model], rows: list[dict[str, object]]) -> list[int]:
    """Insert rows and return their new primary keys, in the rows' order: one multi-row
    INSERT ... RETURNING per chunk (as bulk_create does on SQLite >= 3.35 and PostgreSQL, whose
    answers come in the order of the VALUES), without the ORM's model instances and compilation."""
    prepared, sql = _insert_statement(model, "")
    head, _, one_row = sql.partition(" VALUES ")
    pk = connection.ops.quote_name(model._meta.pk.column)
    ids: list[int] = []
    with driver_cursor() as cursor:
        for rows_chunk in _chunks(rows, RETURNING_CHUNK):
            chunk = _insert_params(prepared, rows_chunk)
            cursor.execute(
                f"{head} VALUES {', '.join([one_row] * len(chunk))} RETURNING {pk}",
                [value for values in chunk for value in values],
            )
            ids.extend(int(row[0]) for row in cursor.fetchall())
    if len(ids) != len(rows):
        raise RuntimeError(f"the database returned {len(ids)} ids for {len(rows)} inserted rows")
    return ids


def _insert_statement(model: type[models.Model], on_conflict: str) -> tuple[Prepared, str]:
    # Keyed by the database's engine as the settings name it: django.db.connection.vendor is a
    # lookup in a context-local store on every use.
    key = (model, on_conflict, connections.settings[DEFAULT_DB_ALIAS]["ENGINE"])
    if key not in _INSERTS:
        fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        sql = f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({_in(fields)})"  # noqa: S608
        if on_conflict:
            sql += f" {on_conflict}"
        _INSERTS[key] = ([(f, _converter(f)) for f in fields], sql)
    return _INSERTS[key]


def _insert_params(prepared: Prepared, rows: list[dict[str, object]]) -> list[list[Any]]:
    """Each row's values in the statement's column order, converted as the ORM would."""
    params: list[list[Any]] = []
    stamps: dict[int, object] | None = None
    for row in rows:
        maker, stamped = _row_maker(prepared, tuple(row))
        if stamps is None and stamped:
            now = timezone.now()  # auto_now(_add) fields: `now` as the driver gets it, made once
            stamps = {index: now if convert is None else convert(now) for index, (_, convert) in stamped}
        params.append(maker(row, stamps))
    return params


RowMaker = Callable[[dict[str, object], Any], list[Any]]
# (id of a Prepared, the row's keys) -> its RowMaker and the auto_now(_add) fields it stamps.
_ROW_MAKERS: dict[tuple[int, tuple[str, ...]], tuple[RowMaker, list[tuple[int, tuple[models.Field, Converter]]]]] = {}


def _row_maker(
    prepared: Prepared, keys: tuple[str, ...]
) -> tuple[RowMaker, list[tuple[int, tuple[models.Field, Converter]]]]:
    """A function that builds one row's values in one list display, as dataclasses builds its
    __init__: the loop over the fields, each a name test, a default and a converter call, cost
    more than the statement it fed (a 26-column message row). With it, the (index, prepared
    field) of the auto_now(_add) fields, whose values it takes from `stamps` by index. Constant
    defaults are converted once here; callable ones per row."""
    key = (id(prepared), keys)
    made = _ROW_MAKERS.get(key)
    if made is not None:
        return made
    names: dict[str, object] = {}
    items: list[str] = []
    stamped: list[tuple[int, tuple[models.Field, Converter]]] = []
    for index, (f, convert) in enumerate(prepared):
        if convert is not None:
            names[f"convert_{index}"] = convert
        if f.attname in keys:
            value = f"row[{f.attname!r}]"
            if convert is not None:
                value = f"(None if (v := {value}) is None else convert_{index}(v))"
        elif getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
            value = f"stamps[{index}]"
            stamped.append((index, (f, convert)))
        elif f.has_default() and callable(f.default):
            names[f"default_{index}"] = f.get_default
            value = f"default_{index}()"
            if convert is not None:
                value = f"(None if (v := {value}) is None else convert_{index}(v))"
        else:
            constant = f.get_default()
            names[f"constant_{index}"] = constant if convert is None or constant is None else convert(constant)
            value = f"constant_{index}"
        items.append(value)
    source = "def make(row, stamps):\n    return [" + ", ".join(items) + "]\n"
    exec(source, names)  # noqa: S102 - the text is made of field indexes and model field names
    made = (cast(RowMaker, names["make"]), stamped)
    if len(_ROW_MAKERS) < 1000:
        _ROW_MAKERS[key] = made
    return made


def _in(values: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(values))


def _lock_folders_and_accounts(
    account_ids: list[int], names: set[str]
) -> tuple[dict[tuple[int, str], _FolderState], dict[int, list[int]]]:
    """Lock and load the target folders and their accounts with one query.

    Rows are locked in folder id order, folder before account as in message_append, so
    concurrent writers cannot deadlock. An account that has none of the folders (not even
    INBOX) is missing from the answer, like an account that does not exist.
    """
    folder, account = Folder._meta.db_table, Account._meta.db_table
    name_list = sorted(names)
    sql = (
        f"SELECT f.id, f.account_id, f.name, f.uid_next, f.highest_modseq, a.quota, a.used_bytes "  # noqa: S608
        f"FROM {folder} f JOIN {account} a ON a.id = f.account_id "
        f"WHERE f.account_id IN ({_in(account_ids)}) AND f.name IN ({_in(name_list)}) ORDER BY f.id"
    )
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    folders: dict[tuple[int, str], _FolderState] = {}
    accounts: dict[int, list[int]] = {}
    with driver_cursor() as cursor:
        cursor.execute(sql, [*account_ids, *name_list])
        for pk, account_id, name, uid_next, highest_modseq, quota, used in cursor.fetchall():
            folders[(account_id, name)] = _FolderState(pk, account_id, name, uid_next, highest_modseq + 1)
            accounts[account_id] = [quota, used, 0]
    return folders, accounts


# A blob already stored gets the new references counted instead of a second row.
_BLOB_UPSERT = f"ON CONFLICT (sha256) DO UPDATE SET refcount = {Blob._meta.db_table}.refcount + excluded.refcount"
_BLOB_DATA_KEEP = "ON CONFLICT (sha256) DO NOTHING"  # the same digest: the same bytes
_DATA = "_data"  # a _blob_row key: the bytes, for a blob kept in the database


def blobs_reference(rows: list[dict[str, object]], references: dict[str, int], *, cursor: Cursor | None = None) -> None:
    """Store each blob's row (rows: one per digest of `references`, see _blob_row) with its new
    references counted, or add them to the count of the row already there: one upsert for all,
    where an insert that skipped the known blobs and an UPDATE of every count took two. The
    bytes of the blobs kept in the database (store.blobs.blob_inline) go in with them, in the
    same transaction: no file was written for those."""
    inline: list[dict[str, object]] = []
    for row in rows:
        row["refcount"] = references[str(row["sha256"])]
        data = row.pop(_DATA, None)
        if data is not None:
            inline.append({"blob_id": row["sha256"], "data": data})
    _insert(Blob, rows, on_conflict=_BLOB_UPSERT, cursor=cursor)
    if inline:
        _insert(BlobData, inline, on_conflict=_BLOB_DATA_KEEP, cursor=cursor)


def _counters_update(
    changed: list[_FolderState], accounts: dict[int, list[int]], *, cursor: Cursor | None = None
) -> None:
    """One UPDATE per folder and per account, sent as two executemany batches."""
    folder, account = Folder._meta.db_table, Account._meta.db_table
    with nullcontext(cursor) if cursor is not None else driver_cursor() as used:
        used.executemany(
            f"UPDATE {folder} SET uid_next = %s, highest_modseq = %s, message_count = message_count + %s, "  # noqa: S608
            f"unseen_count = unseen_count + %s, total_bytes = total_bytes + %s WHERE id = %s",
            [(f.uid_next, f.modseq, f.added, f.unseen, f.bytes, f.pk) for f in changed],
        )
        used.executemany(
            f"UPDATE {account} SET used_bytes = used_bytes + %s WHERE id = %s",  # noqa: S608
            [(added, pk) for pk, (_, _, added) in accounts.items() if added],
        )


def _blob_row(digest: str, raw: bytes, parsed: ParsedMessage, wire: WireFacts | None = None) -> dict[str, object]:
    wire = wire or wire_facts(raw)
    row: dict[str, object] = {
        "sha256": digest,
        "size": len(raw),
        "envelope": parsed.envelope,
        "body": parsed.body,
        "wire_size": wire.size,
        "wire_crlf": wire.crlf,
        "wire_dots": wire.dots,
    }
    if blob_inline(len(raw)):
        row[_DATA] = raw
    return row


def messages_deliver_batch(*, items: Sequence[DeliveryItem]) -> list[DeliveryResult]:
    """Deliver many messages in one transaction: the group commit of the MDA.

    Every blob is written and fsynced first (each file, then each directory once); then one
    transaction locks the involved folders and accounts with one query each, inserts all
    Message rows at once and updates each folder and account once. Per item the semantics of
    message_deliver hold: over-quota targets are skipped and reported, `fileinto :create`
    creates the folder, a missing folder means INBOX. An item naming an unknown account gets
    `error` and nothing of it is delivered; the other items are not affected. Each folder gets
    one new MODSEQ for the batch and UIDs in item order. Call it inside or outside a transaction:
    when the outermost transaction commits, every delivered copy is durable (DESIGN rule 1).
    """
    search = search_at_delivery()
    parsed_list = [item.parsed or parse_message(item.raw, search=search) for item in items]
    # Durable before any row names them (DESIGN rule 5), unless the caller takes care of that.
    written = iter(blobs_write([item.raw for item in items if not item.blob_written_by_caller]))
    digests = [blob_digest(item.raw) if item.blob_written_by_caller else next(written) for item in items]
    results = [DeliveryResult(blob=digest) for digest in digests]
    now = timezone.now()
    account_ids = sorted({target.account_id for item in items for target in item.targets})
    names_by_item = [[_stored_name(target.folder) for target in item.targets] for item in items]
    names = {name for item_names in names_by_item for name in item_names} | {"INBOX"}
    messages: list[dict[str, object]] = []
    logs: list[dict[str, object]] = []
    blob_refs: dict[str, int] = {}
    blob_items: dict[str, int] = {}
    with transaction.atomic(savepoint=False):
        if not account_ids:
            return results
        folders, accounts = _lock_folders_and_accounts(account_ids, names)
        for index, item in enumerate(items):
            result = results[index]
            parsed = parsed_list[index]
            missing = [t.account_id for t in item.targets if t.account_id not in accounts]
            if missing:
                result.error = f"no such account id {missing[0]}"
                continue
            accepted: list[tuple[DeliveryTarget, str]] = []
            over: list[tuple[DeliveryTarget, str]] = []
            pending: dict[int, int] = {}
            for target, name in zip(item.targets, names_by_item[index], strict=True):
                quota, used, _ = accounts[target.account_id]
                used += pending.get(target.account_id, 0)
                if item.enforce_quota and quota and used + parsed.size > quota:
                    over.append((target, name))
                    continue
                pending[target.account_id] = pending.get(target.account_id, 0) + parsed.size
                accepted.append((target, name))
            result.over_quota = [target for target, _ in over]
            if over and accepted and item.quota_grace:
                accepted += over
            placed: list[tuple[DeliveryTarget, _FolderState]] = []
            for target, name in accepted:
                folder = _folder_for(folders, target, name)
                if folder is None:
                    result.error = f"account id {target.account_id} has no INBOX"
                    break
                placed.append((target, folder))
            if result.error:
                continue
            base_row = _message_fields(parsed)
            digest = digests[index]
            if placed and item.log is not None and item.log.received:
                logs.extend(dict(row) for row in item.log.received)
                result.logged = True
            for target, folder in placed:
                uid = folder.uid_next
                messages.append(
                    dict(
                        base_row,
                        folder_id=folder.pk,
                        uid=uid,
                        modseq=folder.modseq,
                        flags=target.flags,
                        keywords=list(target.keywords),
                        internal_date=item.internal_date or now,
                        blob_id=digest,
                    )
                )
                folder.uid_next += 1
                folder.added += 1
                folder.bytes += parsed.size
                folder.unseen += 0 if target.flags & Flag.SEEN else 1
                accounts[target.account_id][1] += parsed.size
                accounts[target.account_id][2] += parsed.size
                blob_refs[digest] = blob_refs.get(digest, 0) + 1
                blob_items.setdefault(digest, index)
                result.delivered.append(Delivered(target.account_id, folder.pk, folder.name, uid))
                if item.log is not None:
                    logs.append(
                        {
                            "event": "delivered",
                            "message_id": parsed.message_id[:998],
                            "sender": item.log.sender[:320],
                            "recipient": item.log.addresses.get(target.account_id, str(target.account_id)),
                            "folder": folder.name,
                            "rule": item.log.rules.get(target.account_id, "")[:200],
                            "client_ip": item.log.client_ip,
                            "tls": item.log.tls,
                            "size": parsed.size,
                        }
                    )
        if not messages:
            return results
        blob_rows: list[dict[str, object]] = [
            _blob_row(digest, items[index].raw, parsed_list[index], items[index].wire)
            for digest, index in blob_items.items()
        ]
        changed = [folder for folder in folders.values() if folder.added]
        with driver_cursor() as cursor:
            with pipelined():
                blobs_reference(blob_rows, blob_refs, cursor=cursor)
                _insert(Message, messages, cursor=cursor)
                _counters_update(changed, accounts, cursor=cursor)
                if logs:
                    _insert(DeliveryLog, logs, cursor=cursor)
                changes_read = changes_send(
                    [(folder.account_id, folder.pk, "add", folder.modseq) for folder in changed], cursor=cursor
                )
            changes_read()  # after the pipeline's sync, which brought its answer: no round trip of its own
    return results


def _folder_lock(folder_id: int) -> tuple[int, int]:
    """Lock a folder's row (FOR UPDATE where the database has it; SQLite's write transaction
    is the lock) and return (account id, highest MODSEQ)."""
    sql = f"SELECT account_id, highest_modseq FROM {Folder._meta.db_table} WHERE id = %s"  # noqa: S608
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with driver_cursor() as cursor:
        cursor.execute(sql, [folder_id])
        row = cursor.fetchone()
    if row is None:
        raise NotFound("no such folder")
    return int(row[0]), int(row[1])


def _chunks(values: list[Any], size: int = 5000) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def message_append(
    *,
    folder_id: int,
    raw: bytes,
    flags: int = 0,
    keywords: Iterable[str] = (),
    internal_date: datetime | None = None,
    parsed: ParsedMessage | None = None,
    blob_written_by_caller: bool = False,
) -> AppendResult:
    """APPEND (RFC 3501 §6.3.11) with the APPENDUID result of UIDPLUS (RFC 4315).

    The parse and the blob file may be done by the caller beforehand (parsed, and
    blob_written_by_caller when store.blobs.blob_write has made the file durable), so a writer
    that commits for many sessions only runs the statements: one locking read of the folder and
    its account, the Blob row (if new), the Message row, the counters and the change event.
    """
    parsed = parsed or parse_message(raw, search=search_at_delivery())
    # Durable before any row names it (DESIGN rule 5); outside the transaction, so no lock is
    # held during the fsyncs. An APPEND refused for quota leaves a file the GC sweep removes.
    digest = blob_digest(raw) if blob_written_by_caller else blob_write(raw)
    row = dict(
        _message_fields(parsed),
        flags=flags,
        keywords=sorted(set(keywords)),
        internal_date=internal_date or timezone.now(),
        blob_id=digest,
    )
    folder, account = Folder._meta.db_table, Account._meta.db_table
    sql = (
        f"SELECT f.account_id, f.uid_validity, f.uid_next, f.highest_modseq, a.quota, a.used_bytes "  # noqa: S608
        f"FROM {folder} f JOIN {account} a ON a.id = f.account_id WHERE f.id = %s"
    )
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with transaction.atomic(savepoint=False):
        with driver_cursor() as cursor:
            cursor.execute(sql, [folder_id])
            found = cursor.fetchone()
        if found is None:
            raise NotFound("no such folder")
        account_id, uid_validity, uid_next, highest_modseq, quota, used_bytes = found
        if quota and used_bytes + parsed.size > quota:
            raise QuotaExceeded("quota exceeded")
        state = _FolderState(folder_id, account_id, "", uid_next + 1, highest_modseq + 1, added=1, bytes=parsed.size)
        state.unseen = 0 if flags & Flag.SEEN else 1
        with pipelined():
            blobs_reference([_blob_row(digest, raw, parsed)], {digest: 1})
            _insert(Message, [dict(row, folder_id=folder_id, uid=uid_next, modseq=state.modseq)])
            _counters_update([state], {account_id: [quota, used_bytes, parsed.size]})
            changes_record([(account_id, folder_id, "add", state.modseq)])
    return AppendResult(uid_validity=uid_validity, uid=uid_next)


def flags_set(
    *,
    folder_id: int,
    uids: Iterable[int],
    mode: str,
    flags: int = 0,
    keywords: Iterable[str] = (),
    unchanged_since: int | None = None,
) -> FlagsResult:
    """STORE (RFC 3501 §6.4.6): mode is 'set', 'add' or 'remove'.

    With unchanged_since (CONDSTORE, RFC 7162 §3.1.3), messages whose MODSEQ is greater are left
    alone and returned in failed_uids. Messages whose flags do not change keep their MODSEQ, and
    when none changes the folder's MODSEQ stays too. Plain statements through the cursor: one
    locking read of the folder, one read of the messages, one UPDATE per resulting flag set (or
    one executemany), the folder's counters and the change event.
    """
    if mode not in ("set", "add", "remove"):
        raise ValueError(f"unknown flags mode {mode!r}")
    keyword_set = set(keywords)
    uid_list = sorted(set(uids))
    message = Message._meta.db_table
    keywords_field = Message._meta.get_field("keywords")
    with transaction.atomic(savepoint=False):
        account_id, highest_modseq = _folder_lock(folder_id)
        modseq = highest_modseq + 1
        changed: list[tuple[int, FlagChange]] = []  # (row id, change)
        failed: list[int] = []
        unseen_delta = 0
        with driver_cursor() as cursor:
            for chunk in _chunks(uid_list):
                cursor.execute(
                    f"SELECT id, uid, flags, keywords, modseq FROM {message} "  # noqa: S608
                    f"WHERE folder_id = %s AND uid IN ({_in(chunk)})",
                    [folder_id, *chunk],
                )
                for pk, uid, current, current_keywords, current_modseq in cursor.fetchall():
                    if unchanged_since is not None and current_modseq > unchanged_since:
                        failed.append(uid)
                        continue
                    after = flags_change(current, keywords_tuple(current_keywords), mode, flags, keyword_set)
                    if after is None:
                        continue
                    new_flags, new_keywords = after
                    if (current & Flag.SEEN) != (new_flags & Flag.SEEN):
                        unseen_delta += -1 if new_flags & Flag.SEEN else 1
                    changed.append((pk, FlagChange(uid, new_flags, new_keywords, modseq)))
            if not changed:
                return FlagsResult(modseq=highest_modseq, changed=[], failed_uids=sorted(failed))
            # Messages that end with the same flags (the usual case) take one plain UPDATE.
            groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
            for pk, change in changed:
                groups.setdefault((change.flags, tuple(change.keywords)), []).append(pk)
            update = f"UPDATE {message} SET flags = %s, keywords = %s, modseq = %s WHERE id"  # noqa: S608
            if len(groups) <= 4:
                for (group_flags, group_keywords), ids in groups.items():
                    stored = keywords_field.get_db_prep_save(list(group_keywords), connection)
                    for chunk in _chunks(ids):
                        cursor.execute(f"{update} IN ({_in(chunk)})", [group_flags, stored, modseq, *chunk])
            else:
                cursor.executemany(
                    f"{update} = %s",
                    [
                        (change.flags, keywords_field.get_db_prep_save(change.keywords, connection), modseq, pk)
                        for pk, change in changed
                    ],
                )
            cursor.execute(
                f"UPDATE {Folder._meta.db_table} SET highest_modseq = %s, "  # noqa: S608
                "unseen_count = unseen_count + %s WHERE id = %s",
                [modseq, unseen_delta, folder_id],
            )
        changes_record([(account_id, folder_id, "flags", modseq)])
    return FlagsResult(modseq=modseq, changed=[change for _, change in changed], failed_uids=sorted(failed))


def flags_change(
    current: int, current_keywords: Iterable[str], mode: str, flags: int, keywords: set[str]
) -> tuple[int, list[str]] | None:
    """A message's (flags, sorted keywords) after a STORE of mode 'set', 'add' or 'remove';
    None when the STORE leaves both as they are (the message keeps its MODSEQ)."""
    current_keywords = list(current_keywords)
    if mode == "set":
        new_flags, new_keywords = flags, sorted(keywords)
    elif mode == "add":
        new_flags, new_keywords = current | flags, sorted(set(current_keywords) | keywords)
    else:
        new_flags, new_keywords = current & ~flags, sorted(set(current_keywords) - keywords)
    if new_flags == current and new_keywords == sorted(current_keywords):
        return None
    return new_flags, new_keywords


def _messages_by_uid(folder_id: int, uids: Iterable[int]) -> list[Message]:
    uid_list = sorted(set(uids))
    found: list[Message] = []
    for start in range(0, len(uid_list), 5000):
        found.extend(Message.objects.filter(folder_id=folder_id, uid__in=uid_list[start : start + 5000]))
    found.sort(key=lambda m: m.uid)
    return found


def messages_copy(*, folder_id: int, uids: Iterable[int], target_folder_id: int) -> CopyResult:
    """COPY (RFC 3501 §6.4.7) with COPYUID (RFC 4315); the blob is shared, not copied."""
    with transaction.atomic():
        # Lock both folders in id order so two crossing copies cannot deadlock.
        locked = {fid: _lock_folder(fid) for fid in sorted({folder_id, target_folder_id})}
        target = locked[target_folder_id]
        originals = _messages_by_uid(folder_id, uids)
        if not originals:
            return CopyResult(uid_validity=target.uid_validity, uid_map=[])
        account = Account.objects.select_for_update().get(pk=target.account_id)
        added_bytes = sum(m.size for m in originals)
        if folder_id != target_folder_id and account.quota and account.used_bytes + added_bytes > account.quota:
            raise QuotaExceeded("quota exceeded")
        copies = _add_messages(target, [_copy_fields(m) for m in originals])
    return CopyResult(
        uid_validity=target.uid_validity,
        uid_map=[(o.uid, c.uid) for o, c in zip(originals, copies, strict=True)],
    )


def messages_move(*, folder_id: int, uids: Iterable[int], target_folder_id: int) -> CopyResult:
    """MOVE (RFC 6851): copy then expunge the originals, in one transaction."""
    uid_list = list(uids)
    with transaction.atomic():
        result = messages_copy(folder_id=folder_id, uids=uid_list, target_folder_id=target_folder_id)
        _expunge(folder_id, [src for src, _ in result.uid_map], only_deleted=False)
    return result


def messages_expunge(*, folder_id: int, uids: Iterable[int] | None = None) -> list[int]:
    """EXPUNGE (RFC 3501 §6.4.3) or UID EXPUNGE (RFC 4315): remove \\Deleted messages.

    Returns the expunged UIDs in ascending order.
    """
    with transaction.atomic(savepoint=False):
        return _expunge(folder_id, None if uids is None else list(uids), only_deleted=True)


def _expunge(folder_id: int, uids: list[int] | None, *, only_deleted: bool) -> list[int]:
    """Remove messages (only the \\Deleted ones when asked) with one new MODSEQ, keeping the
    folder's counters, the account's quota usage and the blobs' reference counts exact; every
    removed UID is kept with that MODSEQ for QRESYNC VANISHED (RFC 7162 §3.2.10)."""
    account_id, highest_modseq = _folder_lock(folder_id)
    message = Message._meta.db_table
    select = f"SELECT id, uid, size, flags, blob_id FROM {message} WHERE folder_id = %s"  # noqa: S608
    if only_deleted:
        select += f" AND (flags & {Flag.DELETED}) <> 0"
    with driver_cursor() as cursor:
        if uids is None or len(uids) > 5000:
            cursor.execute(select, [folder_id])
            candidates = cursor.fetchall()
            if uids is not None:
                wanted = set(uids)
                candidates = [row for row in candidates if row[1] in wanted]
        else:  # a few UIDs (UID EXPUNGE, MOVE): found through the (folder, uid) index, not by a scan
            wanted_list = sorted(set(uids))
            cursor.execute(f"{select} AND uid IN ({_in(wanted_list)})", [folder_id, *wanted_list])
            candidates = cursor.fetchall()
        if not candidates:
            return []
        modseq = highest_modseq + 1
        for chunk in _chunks([row[0] for row in candidates]):
            cursor.execute(f"DELETE FROM {message} WHERE id IN ({_in(chunk)})", chunk)  # noqa: S608
        cursor.executemany(
            f"INSERT INTO {Expunged._meta.db_table} (folder_id, uid, modseq) VALUES (%s, %s, %s)",  # noqa: S608
            [(folder_id, row[1], modseq) for row in candidates],
        )
        removed_bytes = sum(row[2] for row in candidates)
        unseen = sum(1 for row in candidates if not row[3] & Flag.SEEN)
        cursor.execute(
            f"UPDATE {Folder._meta.db_table} SET highest_modseq = %s, message_count = message_count - %s, "  # noqa: S608
            "unseen_count = unseen_count - %s, total_bytes = total_bytes - %s WHERE id = %s",
            [modseq, len(candidates), unseen, removed_bytes, folder_id],
        )
        cursor.execute(
            f"UPDATE {Account._meta.db_table} SET used_bytes = used_bytes - %s WHERE id = %s",  # noqa: S608
            [removed_bytes, account_id],
        )
        blob_counts: dict[str, int] = {}
        for row in candidates:
            blob_counts[row[4]] = blob_counts.get(row[4], 0) + 1
        cursor.executemany(
            f"UPDATE {Blob._meta.db_table} SET refcount = refcount - %s WHERE sha256 = %s",  # noqa: S608
            [(count, digest) for digest, count in blob_counts.items()],
        )
    changes_record([(account_id, folder_id, "expunge", modseq)])
    return sorted(row[1] for row in candidates)


def inbox_rename(*, account: Account, new_name: str) -> Folder:
    """RENAME INBOX (RFC 3501 §6.3.5): move all INBOX messages to a new folder; INBOX stays, empty."""
    from store.services.folders import folder_create

    inbox = Folder.objects.select_for_update().get(account=account, name="INBOX")
    target = folder_create(account=account, name=new_name)
    uids = list(Message.objects.filter(folder=inbox).values_list("uid", flat=True))
    if uids:
        messages_move(folder_id=inbox.pk, uids=uids, target_folder_id=target.pk)
    return target
