"""The key form's date box, in real Chromium: with JavaScript it shows only while "Custom
date" is chosen; without JavaScript it is always there, so a custom date can still be sent."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def open_form(chromium, live_server, user, *, javascript: bool):
    context = chromium.new_context(java_script_enabled=javascript)
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    page = context.new_page()
    page.goto(f"{live_server.url}{reverse('dashboard:api-key-create')}")
    return context, page


def test_the_date_box_shows_only_with_custom_date(live_server, chromium, user_factory):
    context, page = open_form(chromium, live_server, user_factory(), javascript=True)
    date = page.get_by_label("Expires on")

    expect(page.get_by_role("radio", name="30 days")).to_be_checked()
    expect(date).to_be_hidden()
    page.get_by_role("radio", name="Custom date").check()
    expect(date).to_be_visible()
    page.get_by_role("radio", name="No expiration").check()
    expect(date).to_be_hidden()
    context.close()


def test_without_javascript_the_date_box_is_always_there(live_server, chromium, user_factory):
    context, page = open_form(chromium, live_server, user_factory(), javascript=False)

    expect(page.get_by_role("radio", name="30 days")).to_be_checked()
    expect(page.get_by_label("Expires on")).to_be_visible()
    context.close()
