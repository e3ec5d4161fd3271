"""Webmail URLs (mounted at /). Folders travel as the `f` query parameter, UIDs in the path."""

from django.urls import path

from webmail.views import auth, compose, live, mailbox, message, organise, rules, search, settings

app_name = "webmail"
urlpatterns = [
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("", mailbox.mailbox, name="mailbox"),
    path("status/", mailbox.status, name="status"),
    path("live/", live.live, name="live"),
    path("read/<str:uid>/", message.message_view, name="message"),
    path("read/<str:uid>/body/", message.message_body, name="message_body"),
    path("read/<str:uid>/part/<str:section>/", message.message_part, name="message_part"),
    path("read/<str:uid>/source/", message.message_raw, name="message_raw"),
    path("read/<str:uid>/trust/", message.remote_trust, name="remote_trust"),
    path("actions/", organise.messages_action, name="actions"),
    path("folders/", organise.folders_manage, name="folders"),
    path("compose/", compose.compose, name="compose"),
    path("compose/upload/", compose.upload, name="upload"),
    path("contacts/", compose.contacts, name="contacts"),
    path("search/", search.search_view, name="search"),
    path("settings/", settings.settings_view, name="settings"),
    path("rules/", rules.rules_view, name="rules"),
]
