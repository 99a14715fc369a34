"""ASGI entry point (`uvicorn titan_site.asgi:application`); the async view runs natively here."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "titan_site.settings")
application = get_asgi_application()
