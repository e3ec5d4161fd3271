"""CSV import: a preview with per-line errors, nothing written until a clean file is applied."""

from __future__ import annotations

from django.urls import reverse

from store.models import Account

GOOD_AND_BAD = (
    "address,display_name,quota,active,password\n"
    "new1@alpha.test,New One,1G,yes,first-password\n"
    "alice@alpha.test,Alice Renamed,,,\n"
    "not-an-address,,,,\n"
    "x@beta.test,,,,\n"
    "new2@alpha.test,,lots,maybe,short\n"
    "new1@alpha.test,,,,\n"
    "sales@alpha.test,,,,\n"
)


def test_preview_lists_each_bad_line_and_writes_nothing(world):
    """Every bad line gets its own reason; applying a file with errors writes nothing."""
    client = world.client_for("admin_alpha")
    before = sorted(Account.objects.values_list("address", "display_name"))
    response = client.post(reverse("admin_panel:account_import"), {"text": GOOD_AND_BAD, "apply": "1"})
    body = response.content.decode()
    assert "“not-an-address” is not a valid mail address." in body
    assert "You do not administer the domain of this address." in body
    assert "“lots” is not a size such as 500M or 2G." in body
    assert "Active must be yes or no, not “maybe”." in body
    assert "The password is shorter than 8 characters." in body
    assert "This address appears more than once in the file." in body
    assert "An alias already uses this address." in body
    assert "Apply these changes" not in body
    assert sorted(Account.objects.values_list("address", "display_name")) == before


def test_clean_file_previews_then_applies(world):
    """A clean file shows a preview first; applying creates and updates, showing generated passwords once."""
    from django.contrib.auth import authenticate

    client = world.client_for("admin_alpha")
    text = "new1@alpha.test,New One,1G,yes,first-password\nnew2@alpha.test,,,no,\nalice@alpha.test,Alice Renamed,2G,,\n"
    preview = client.post(reverse("admin_panel:account_import"), {"text": text})
    assert "Apply these changes" in preview.content.decode()
    assert not Account.objects.filter(address="new1@alpha.test").exists()
    done = client.post(reverse("admin_panel:account_import"), {"text": text, "apply": "1"}).content.decode()
    assert "2 accounts created, 1 updated." in done
    new1 = Account.objects.get(address="new1@alpha.test")
    assert (new1.display_name, new1.quota, new1.is_active) == ("New One", 1024**3, True)
    assert authenticate(None, username="new1@alpha.test", password="first-password") is not None
    new2 = Account.objects.get(address="new2@alpha.test")
    assert not new2.is_active
    assert "new2@alpha.test" in done and "first-password" not in done
    alice = Account.objects.get(address="alice@alpha.test")
    assert (alice.display_name, alice.quota) == ("Alice Renamed", 2 * 1024**3)


def test_max_accounts_counted_over_the_file(world):
    """Lines that together exceed the domain's maximum are all marked."""
    from store.services import domain_update

    domain_update(domain=world.alpha, max_accounts=Account.objects.filter(domain=world.alpha).count() + 1)
    client = world.client_for("admin_alpha")
    body = client.post(
        reverse("admin_panel:account_import"), {"text": "n1@alpha.test\nn2@alpha.test\n", "apply": "1"}
    ).content.decode()
    assert body.count("allows at most") == 2
    assert not Account.objects.filter(address__in=["n1@alpha.test", "n2@alpha.test"]).exists()


def test_export_round_trip(world):
    """The export has only the admin's accounts, and importing it back changes nothing."""
    client = world.client_for("admin_alpha")
    exported = client.get(reverse("admin_panel:account_export")).content.decode()
    lines = exported.strip().splitlines()
    assert lines[0] == "address,display_name,quota,active,password,role,used_bytes,source"
    addresses = {line.split(",")[0] for line in lines[1:]}
    assert addresses == {"alice@alpha.test", "plain@alpha.test"}
    body = client.post(reverse("admin_panel:account_import"), {"text": exported}).content.decode()
    assert "Lines: 0 to create, 0 to update." in body


def test_uploaded_file(world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = world.client_for("superadmin")
    upload = SimpleUploadedFile("a.csv", "\ufeffaddress\nfile@beta.test,Datei,,,\n".encode(), content_type="text/csv")
    body = client.post(reverse("admin_panel:account_import"), {"file": upload}).content.decode()
    assert "file@beta.test" in body and "Apply these changes" in body
