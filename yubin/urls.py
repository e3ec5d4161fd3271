"""URL map: the webmail at /, the admin panel at /admin/, client autoconfiguration at the root."""

from django.urls import include, path

urlpatterns = [
    path("admin/", include("admin_panel.urls")),
    path("", include("admin_panel.autoconfig_urls")),
    path("", include("webmail.urls")),
]
