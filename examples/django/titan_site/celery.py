"""The Celery app of the example site: settings from Django's (CELERY_* names), tasks from
every installed app's `tasks.py`. Worker: `celery -A titan_site worker --loglevel=info`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "titan_site.settings")

app = Celery("titan_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
