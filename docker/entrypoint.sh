#!/bin/sh
# Container entry point for every VideoRec role (web, worker, beat, one-shot jobs):
# wait for the database, apply migrations unless told not to, then become the role's
# command ("$@"), so that it runs as PID 1 and receives the container's signals.
set -eu

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"

# prometheus_client's multi-process mode needs the folder before any Python process
# starts, and empty: files left by a previous container would add to this one's counters.
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  rm -rf "$PROMETHEUS_MULTIPROC_DIR"
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi

"$PYTHON" manage.py waitfordb --timeout "${VIDEOREC_DB_WAIT_SECONDS:-60}"

# One service migrates (the compose file's `migrate` job, or a lone `docker run`); the
# others set VIDEOREC_MIGRATE_ON_START=false so that no two run migrations at once.
case "${VIDEOREC_MIGRATE_ON_START:-true}" in
  true | 1 | yes) "$PYTHON" manage.py migrate --noinput ;;
esac

exec "$@"
