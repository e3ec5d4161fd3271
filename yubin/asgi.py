"""ASGI entry point of the web process (webmail, admin panel, autoconfiguration)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yubin.settings")
application = get_asgi_application()
