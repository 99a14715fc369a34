"""The example Django project; its Celery app loads with it so `shared_task`s bind to it."""

from titan_site.celery import app as celery_app

__all__ = ("celery_app",)
