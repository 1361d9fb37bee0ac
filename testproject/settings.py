"""Settings of the demo and test project; everything comes from the environment.

DATABASE_URL picks the database (default: a SQLite file beside this project).
"""

from __future__ import annotations

import os
from pathlib import Path

import django
import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default="djobs-demo-not-secret")
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "djobs",
    "testproject.demo",
    "testproject.recipes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "testproject.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'demo.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Workers and the web process share one file: WAL lets readers run beside the
    # writer, and a busy timeout makes writers wait for each other instead of failing.
    # IMMEDIATE transactions take the write lock when they begin, so two processes
    # never deadlock upgrading a read into a write ("database is locked").
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
    # Tests that start runjobs subprocesses need a file, not the in-memory default.
    DATABASES["default"]["TEST"] = {
        "NAME": str(BASE_DIR / f"test-{os.environ.get('DJOBS_TEST_ID', 'main')}.sqlite3")
    }
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_djobs_{os.environ.get('DJOBS_TEST_ID', 'main')}"}
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    # MySQL and MariaDB: full Unicode, and binary comparison as on PostgreSQL and
    # SQLite (the default collations would make queue "Emails" the same as "emails").
    DATABASES["default"].setdefault("OPTIONS", {}).update({"charset": "utf8mb4"})
    DATABASES["default"]["TEST"].update({"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_bin"})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# The demo's jobs "send" email into memory; DeliveredEmail rows show what went out.
_email_backend = env("EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": _email_backend}}
else:
    EMAIL_BACKEND = _email_backend

DJOBS = {
    "QUEUES": {"default": 10, "emails": 5, "payments": 2, "backfill": 1},
    # Seeds 001 and 004: recurring work, declared here and enqueued once per tick.
    "PERIODIC": {
        "daily-report": {
            "cron": "0 9 * * *",
            "timezone": "Europe/Paris",
            "job": "testproject.demo.reports.daily_report",
        },
        "purge-sessions": {
            "cron": "*/10 * * * *",
            "job": "testproject.demo.reports.purge_expired_sessions",
        },
        "order-confirmations": {
            "cron": "*/10 * * * *",
            "job": "testproject.demo.orders.enqueue_order_confirmations",
        },
    },
}

# No LOGGING: runjobs prints its own lines, as in a fresh project (docs/quickstart.md).
# DJOBS_LOG_LEVEL (the benchmarks set WARNING) configures the djobs logger instead.
if "DJOBS_LOG_LEVEL" in os.environ:
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"console": {"class": "logging.StreamHandler"}},
        "loggers": {"djobs": {"handlers": ["console"], "level": os.environ["DJOBS_LOG_LEVEL"]}},
    }
