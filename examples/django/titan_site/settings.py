"""Settings of the TITAN example site. Everything deployment-specific comes from the
environment, so the same project runs under `manage.py runserver`, a Celery worker and the
test suite.

The site keeps no data of its own (no database): every page asks the TITAN services through
`titan.client`, which finds them the way every TITAN command does (TITAN_<SERVICE>_URL, else
the run registry of `titan up` / `titan demo --keep-running` under TITAN_HOME).
"""

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# A fresh key per process is enough for an example with no sessions or stored signatures.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "desk",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "titan_site.urls"
WSGI_APPLICATION = "titan_site.wsgi.application"
ASGI_APPLICATION = "titan_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

DATABASES: dict[str, dict[str, str]] = {}

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

# titan.client options (keyword arguments of Titan / AsyncTitan). Empty: the client resolves
# the services itself. TITAN_HOME points it at another `titan up` state folder.
TITAN_CLIENT: dict[str, object] = {}
if os.environ.get("TITAN_HOME"):
    TITAN_CLIENT["home"] = Path(os.environ["TITAN_HOME"])
TITAN_CLIENT_TIMEOUT_S = float(os.environ.get("TITAN_CLIENT_TIMEOUT_S", "30"))
# How long a page waits for a backtest it submitted before showing it as still running.
BACKTEST_PAGE_WAIT_S = float(os.environ.get("BACKTEST_PAGE_WAIT_S", "0"))

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TRACK_STARTED = True
# A walk-forward can take minutes: acknowledge after it ran, so a worker killed mid-run
# leaves the task to another worker instead of losing it.
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery retries an unreachable Redis result store 20 times a second apart: a page would
# hang 20 s before saying the queue is down. A worker (or a flakier network) can allow more.
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {
        "max_retries": int(os.environ.get("CELERY_RESULT_STORE_RETRIES", "2")),
        "interval_start": 0,
        "interval_step": 0.5,
        "interval_max": 1,
    }
}
