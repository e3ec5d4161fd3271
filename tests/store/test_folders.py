"""Folder services: names (Japanese included), rename with children, delete, INBOX rules."""

from __future__ import annotations

import pytest

from store.errors import AlreadyExists, InvalidName, NotFound
from store.models import Folder, Message
from store.services import DeliveryTarget, folder_create, folder_delete, folder_rename, message_deliver

RAW = b"Subject: x\r\n\r\nx\r\n"


def names(account) -> set[str]:
    return set(Folder.objects.filter(account=account).values_list("name", flat=True))


def test_japanese_folder_names(make_account):
    """Folder names are Unicode; hierarchy uses '/'."""
    account = make_account("taro@example.test")
    folder_create(account=account, name="仕事")
    folder_create(account=account, name="仕事/請求書")
    assert {"仕事", "仕事/請求書"} <= names(account)


@pytest.mark.parametrize("bad", ["", "   ", "a//b", "/lead", "trail/", "tab\there", "star*", "per%cent"])
def test_invalid_names_refused(make_account, bad):
    account = make_account("taro@example.test")
    with pytest.raises(InvalidName):
        folder_create(account=account, name=bad)


def test_inbox_is_case_insensitive(make_account):
    account = make_account("taro@example.test")
    with pytest.raises(AlreadyExists):
        folder_create(account=account, name="inbox")
    folder_create(account=account, name="Inbox/Child")
    assert "INBOX/Child" in names(account)


def test_rename_moves_children_and_changes_uidvalidity(make_account):
    account = make_account("taro@example.test")
    parent = folder_create(account=account, name="Projects")
    folder_create(account=account, name="Projects/Yubin")
    renamed = folder_rename(account=account, old_name="Projects", new_name="Work")
    assert {"Work", "Work/Yubin"} <= names(account)
    assert "Projects" not in names(account)
    assert renamed.uid_validity > parent.uid_validity


def test_rename_inbox_moves_messages(make_account):
    """RENAME INBOX moves its messages into the new folder; INBOX stays, empty (RFC 3501 §6.3.5)."""
    account = make_account("taro@example.test")
    message_deliver(raw=RAW, targets=[DeliveryTarget(account_id=account.pk)])
    folder_rename(account=account, old_name="INBOX", new_name="Old mail")
    assert Message.objects.filter(folder__account=account, folder__name="INBOX").count() == 0
    assert Message.objects.filter(folder__account=account, folder__name="Old mail").count() == 1


def test_delete_folder_and_inbox_refused(make_account):
    account = make_account("taro@example.test")
    folder_create(account=account, name="Temp")
    message_deliver(raw=RAW, targets=[DeliveryTarget(account_id=account.pk, folder="Temp")])
    folder_delete(account=account, name="Temp")
    assert "Temp" not in names(account)
    account.refresh_from_db()
    assert account.used_bytes == 0
    with pytest.raises(InvalidName):
        folder_delete(account=account, name="INBOX")
    with pytest.raises(NotFound):
        folder_delete(account=account, name="Nope")
