"""SORT and THREAD (RFC 5256) through imapclient."""

import imapclient

from tests.agents.imap.conftest import ADDRESS, message
from tests.conftest import PASSWORD


def _client(imap):
    client = imapclient.IMAPClient(imap.host, port=imap.port, ssl=False, timeout=10)
    client.login(ADDRESS, PASSWORD)
    client.select_folder("INBOX")
    return client


def test_sort_by_date_subject_size(imap):
    """SORT orders by the stored keys; REVERSE flips one key; the search narrows."""
    imap.deliver(message("banana", Date="Tue, 02 Jan 2024 10:00:00 +0000", body="x" * 10))
    imap.deliver(message("Re: apple", Date="Mon, 01 Jan 2024 10:00:00 +0000", body="x" * 300))
    imap.deliver(message("cherry", Date="Wed, 03 Jan 2024 10:00:00 +0000", body="x"))
    client = _client(imap)
    assert client.sort(["DATE"]) == [2, 1, 3]
    assert client.sort(["REVERSE", "DATE"]) == [3, 1, 2]
    assert client.sort(["SUBJECT"]) == [2, 1, 3]
    assert client.sort(["SIZE"]) == [3, 1, 2]
    assert client.sort(["DATE"], ["SUBJECT", "an"]) == [1]


def test_sort_compares_with_ascii_casemap(imap):
    """RFC 5256 SORT compares with i;ascii-casemap, which maps a-z to A-Z: letters come before
    "[" and "_" whatever their case (the order imaptest's sort-subject script asks of Dovecot)."""
    subjects = ["a", "C", "b", "_", "[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b (a)", "Re: [FWD: c]", "[xyz]"]
    for subject in subjects:
        imap.deliver(message(subject, body=f"{subject}\r\n"))
    imap.deliver(message("", body="no subject\r\n"))
    client = _client(imap)
    assert client.sort(["SUBJECT"]) == [9, 1, 3, 5, 6, 2, 7, 8, 4]
    assert client.sort(["REVERSE", "SUBJECT"]) == [4, 8, 2, 7, 6, 3, 5, 1, 9]


def test_thread_references(imap):
    """THREAD REFERENCES links replies under their parents."""
    imap.deliver(message("Topic", Message_ID="<a@x>", Date="Mon, 01 Jan 2024 10:00:00 +0000"))
    imap.deliver(message("Other", Message_ID="<b@x>", Date="Mon, 01 Jan 2024 11:00:00 +0000"))
    imap.deliver(
        message(
            "Re: Topic",
            Message_ID="<c@x>",
            In_Reply_To="<a@x>",
            References="<a@x>",
            Date="Mon, 01 Jan 2024 12:00:00 +0000",
        )
    )
    imap.deliver(
        message(
            "Re: Topic",
            Message_ID="<d@x>",
            In_Reply_To="<c@x>",
            References="<a@x> <c@x>",
            Date="Mon, 01 Jan 2024 13:00:00 +0000",
        )
    )
    client = _client(imap)
    assert client.thread("REFERENCES") == ((1, 3, 4), (2,))


def test_thread_orderedsubject(imap):
    """THREAD ORDEREDSUBJECT groups by base subject."""
    imap.deliver(message("Topic", Date="Mon, 01 Jan 2024 10:00:00 +0000"))
    imap.deliver(message("Other", Date="Mon, 01 Jan 2024 11:00:00 +0000"))
    imap.deliver(message("Re: Topic", Date="Mon, 01 Jan 2024 12:00:00 +0000"))
    client = _client(imap)
    assert client.thread("ORDEREDSUBJECT") == ((1, 3), (2,))


def test_thread_references_gathers_by_subject(imap):
    """RFC 5256 step 5: a reply without references goes under the original of its subject, even
    when it arrived first; two originals of one subject share a dummy parent."""
    imap.deliver(message("Re: Plans", Message_ID="<r@x>", Date="Mon, 01 Jan 2024 09:00:00 +0000"))
    imap.deliver(message("Plans", Message_ID="<p@x>", Date="Mon, 01 Jan 2024 10:00:00 +0000"))
    imap.deliver(message("Lunch", Message_ID="<l1@x>", Date="Mon, 01 Jan 2024 11:00:00 +0000"))
    imap.deliver(message("Lunch", Message_ID="<l2@x>", Date="Mon, 01 Jan 2024 12:00:00 +0000"))
    client = _client(imap)
    assert client.thread("REFERENCES") == ((2, 1), ((3,), (4,)))


def test_thread_references_merges_dummies_of_one_subject(imap):
    """Two threads hanging off different missing parents, with one subject, become siblings."""
    for number, parent in ((1, "<gone-a@x>"), (2, "<gone-a@x>"), (3, "<gone-b@x>"), (4, "<gone-b@x>")):
        imap.deliver(
            message(
                "Re: Hello",
                Message_ID=f"<h{number}@x>",
                In_Reply_To=parent,
                References=parent,
                Date=f"Mon, 01 Jan 2024 1{number}:00:00 +0000",
            )
        )
    client = _client(imap)
    assert client.thread("REFERENCES") == (((1,), (2,), (3,), (4,)),)
