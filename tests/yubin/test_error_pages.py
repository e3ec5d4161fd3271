"""Every error page says what happened in words, in the user's language; CSRF failures included."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.django_db
def test_not_found_page_in_words():
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    assert b"There is nothing at this address" in response.content


@pytest.mark.django_db
def test_not_found_page_in_japanese():
    response = Client(headers={"accept-language": "ja"}).get("/no/such/page/")
    assert response.status_code == 404
    assert "見つかりません" in response.content.decode()


@pytest.mark.django_db
def test_csrf_failure_explains_itself():
    """A form posted without its CSRF token (an expired page or another site) is refused with an explanation."""
    response = Client(enforce_csrf_checks=True).post("/login/", {"address": "a@example.test", "password": "x"})
    assert response.status_code == 403
    assert b"This form has expired" in response.content
    assert b"reload the page" in response.content
