#!/bin/sh
# lgtm-glitchtip-migrate.service (lgtm.stack) runs this inside the GlitchTip image.
# PostgreSQL's container counts as started before the server accepts connections
# (its first start runs initdb), so wait for it, bounded, then run upstream's
# migration script (migrate, createcachetable, pgpartition).
set -eu
python - <<'PY'
import os
import sys
import time

import psycopg

LIMIT = 180
deadline = time.monotonic() + LIMIT
while True:
    try:
        psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=5).close()
        break
    except psycopg.OperationalError as error:
        if time.monotonic() > deadline:
            sys.exit(f"PostgreSQL did not accept connections within {LIMIT} s: {error}")
        time.sleep(1)
PY
exec ./bin/run-migrate.sh
