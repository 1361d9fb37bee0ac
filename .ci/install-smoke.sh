#!/usr/bin/env bash
# The README's "Install in your project" path, on a brand-new project: build the
# wheel, install it in a fresh venv, add djobs to INSTALLED_APPS, migrate,
# enqueue, run a worker in burst mode, and check the job completed.
# Usage: .ci/install-smoke.sh [DATABASE_URL]   (default: a SQLite file)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
db_url="${1:-sqlite:///$work/site.sqlite3}"

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check build 2>/dev/null
"$work/venv/bin/python" -m build -q --wheel --outdir "$work/dist" "$root" >/dev/null
"$work/venv/bin/pip" install -q --disable-pip-version-check "$work"/dist/django_djobs-*.whl "psycopg[binary]" dj-database-url 2>/dev/null

cd "$work"
"$work/venv/bin/django-admin" startproject site_ . >/dev/null
"$work/venv/bin/python" manage.py startapp shop >/dev/null
cat >> site_/settings.py <<PY
INSTALLED_APPS += ["djobs", "shop"]
import dj_database_url
DATABASES = {"default": dj_database_url.parse("$db_url")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # As the quickstart says for SQLite: without these, runjobs' threads trip over
    # "database is locked" (and the check below would say so, djobs.W001).
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL;",
        "transaction_mode": "IMMEDIATE",
    }
PY
cat > shop/jobs.py <<'PY'
from djobs import job

@job(queue="default", max_attempts=3)
def add(a: int, b: int) -> int:
    return a + b
PY
"$work/venv/bin/python" manage.py migrate -v0
"$work/venv/bin/python" manage.py check --fail-level WARNING
"$work/venv/bin/python" manage.py shell -c "
from shop.jobs import add
job = add.enqueue(2, 3)
print('enqueued', job.pk, job.state)
"
"$work/venv/bin/python" manage.py runjobs --burst
"$work/venv/bin/python" manage.py shell -c "
from djobs.models import Job
job = Job.objects.get()
assert (job.state, job.result) == ('completed', 5), (job.state, job.result, job.errors)
print('install smoke test: job', job.pk, job.state, 'result', job.result)
"
