"""Admin panel URLs (mounted at /admin/). Object ids are looked up through admin_panel.access."""

from django.urls import path
from django.views.i18n import set_language

from admin_panel.views import accounts, aliases, audit, auth, csv_views, dashboard, dns, domains, queue, rules, tracking

app_name = "admin_panel"
urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("language/", set_language, name="set_language"),
    # domains, DNS and DKIM
    path("domains/", domains.domain_list, name="domain_list"),
    path("domains/new/", domains.domain_create_view, name="domain_create"),
    path("domains/<int:domain_id>/", domains.domain_detail, name="domain_detail"),
    path("domains/<int:domain_id>/edit/", domains.domain_edit, name="domain_edit"),
    path("domains/<int:domain_id>/delete/", domains.domain_delete, name="domain_delete"),
    path("domains/<int:domain_id>/dns/", dns.domain_dns, name="domain_dns"),
    path("domains/<int:domain_id>/dkim/", dns.dkim_generate, name="dkim_generate"),
    path("dkim/<int:key_id>/activate/", dns.dkim_activate, name="dkim_activate"),
    path("dkim/<int:key_id>/remove/", dns.dkim_remove, name="dkim_remove"),
    # accounts
    path("accounts/", accounts.account_list, name="account_list"),
    path("accounts/new/", accounts.account_create_view, name="account_create"),
    path("accounts/import/", csv_views.account_import, name="account_import"),
    path("accounts/export.csv", csv_views.account_export, name="account_export"),
    path("accounts/<int:account_id>/", accounts.account_detail, name="account_detail"),
    path("accounts/<int:account_id>/password/", accounts.account_password, name="account_password"),
    path("accounts/<int:account_id>/role/", accounts.account_role, name="account_role"),
    path("accounts/<int:account_id>/delete/", accounts.account_delete, name="account_delete"),
    # aliases
    path("aliases/", aliases.alias_list, name="alias_list"),
    path("aliases/new/", aliases.alias_create_view, name="alias_create"),
    path("aliases/<int:alias_id>/", aliases.alias_edit, name="alias_edit"),
    path("aliases/<int:alias_id>/delete/", aliases.alias_delete, name="alias_delete"),
    # folder rules
    path("rules/", rules.rule_index, name="rule_index"),
    path("rules/<str:kind>/<int:owner_id>/", rules.owner_rules, name="owner_rules"),
    path("rules/<str:kind>/<int:owner_id>/builder/", rules.rule_builder, name="rule_builder"),
    path("rules/<str:kind>/<int:owner_id>/builder/<int:index>/remove/", rules.rule_remove, name="rule_remove"),
    path("rules/<str:kind>/<int:owner_id>/scripts/new/", rules.script_edit, name="script_create"),
    path("rules/<str:kind>/<int:owner_id>/scripts/<int:script_id>/", rules.script_edit, name="script_edit"),
    path(
        "rules/<str:kind>/<int:owner_id>/scripts/<int:script_id>/activate/",
        rules.script_activate,
        name="script_activate",
    ),
    path("rules/<str:kind>/<int:owner_id>/scripts/<int:script_id>/delete/", rules.script_delete, name="script_delete"),
    # queue and tracking
    path("queue/", queue.queue_list, name="queue_list"),
    path("queue/<int:outbound_id>/", queue.queue_detail, name="queue_detail"),
    path("queue/<int:outbound_id>/<str:action>/", queue.queue_action, name="queue_action"),
    path("tracking/", tracking.tracking_search, name="tracking_search"),
    path("tracking/<int:log_id>/", tracking.tracking_path, name="tracking_path"),
    # audit
    path("audit/", audit.audit_list, name="audit_list"),
]
