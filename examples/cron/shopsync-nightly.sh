#!/bin/sh
# Nightly stock sync and catalog upload for cron. Quiet unless something is wrong;
# the exit code, report and metrics tell the rest (see README.md beside this file).
set -u

# Credentials live in a file only this user can read (chmod 600), never in the crontab.
# It holds, for example:
#   SHOPSYNC_BASE_URL=https://api.example-shop.com/v1
#   SHOPSYNC_CLIENT_ID=...
#   SHOPSYNC_CLIENT_SECRET=...
set -a
. "${SHOPSYNC_ENV_FILE:-$HOME/.config/shopsync/env}"
set +a

SHOPSYNC="${SHOPSYNC:-$HOME/shopsync/.venv/bin/shopsync}"
EXPORTS="${EXPORTS:-/srv/erp/export}"
REPORTS="${REPORTS:-/var/log/shopsync}"
METRICS="${METRICS:-/var/lib/node_exporter/textfile_collector}"

cd "$REPORTS" || exit 2

# Products first (creates new SKUs, so that their stock can be set), then stock.
"$SHOPSYNC" --quiet upload "$EXPORTS/products.csv" \
    --report "$REPORTS/upload-report.json" \
    --metrics-file "$METRICS/shopsync_upload.prom"
upload=$?

"$SHOPSYNC" --quiet stock "$EXPORTS/stock.csv" \
    --report "$REPORTS/stock-report.json" \
    --metrics-file "$METRICS/shopsync_stock.prom"
stock=$?

# 6 means the previous night's run still holds the lock: not an error for cron.
[ "$upload" -eq 6 ] && upload=0
[ "$stock" -eq 6 ] && stock=0
[ "$upload" -ne 0 ] && exit "$upload"
exit "$stock"
