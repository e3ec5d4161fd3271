"""URL map: the webmail at /, the admin panel at /admin/, client autoconfiguration."""

from django.urls import include, path

urlpatterns = [
    path("admin/", include("admin_panel.urls")),
    path("", include("webmail.urls")),
]
