"""WSGI entry point (`gunicorn titan_site.wsgi`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "titan_site.settings")
application = get_wsgi_application()
