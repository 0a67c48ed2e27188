#!/bin/sh
# adgate's scheduled check of its audit log, for Prometheus: `audit verify`, then
# `audit check-checkpoints` against the newest checkpoints this job kept on an earlier day,
# then today's checkpoints kept for the next run. Each check writes its result into a .prom
# file of node_exporter's textfile collector (adgate_audit_verify_*,
# adgate_audit_checkpoints_check_*), failures included; docs/deploy/adgate-alerts.yml alerts
# when one failed or stopped running. Installed as /usr/local/sbin/adgate-audit-check, run
# daily by adgate-audit-check.timer. The output goes to the journal.
#
# A copy of the checkpoints kept here proves little against whoever can write this host: the
# backup sends them off the host too, and auditors keep their own (docs/deploy.md, For
# auditors and data protection officers).
set -u
umask 077

CODE=${ADGATE_CODE:-/opt/adgate}
FLASK="${ADGATE_FLASK:-$CODE/.venv/bin/flask} --app wsgi"
KEPT_DIR=${CHECKPOINTS_KEPT_DIR:-/var/lib/adgate/checkpoints}
TEXTFILE_DIR=${TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}
KEEP_DAYS=${CHECKPOINTS_KEEP_DAYS:-35}

cd "$CODE" || exit 1
mkdir -p "$KEPT_DIR" || exit 1
failed=0

$FLASK audit verify --no-progress --textfile "$TEXTFILE_DIR/adgate_audit_verify.prom" || failed=1

# The newest file of an earlier run; on the very first run, none: today's is checked instead.
earlier=$(find "$KEPT_DIR" -maxdepth 1 -name 'checkpoints-*.json' | sort | tail -n 1)
today="$KEPT_DIR/checkpoints-$(date -u +%Y%m%dT%H%M%SZ).json"
$FLASK audit checkpoints --out "$today" || failed=1
$FLASK audit check-checkpoints "${earlier:-$today}" \
    --textfile "$TEXTFILE_DIR/adgate_audit_checkpoints.prom" || failed=1

# Kept as long as the backups (BACKUP_KEEP_DAYS): a checkpoint holds no personal data, but an
# old one adds nothing a newer one does not prove, and the list would only grow.
find "$KEPT_DIR" -maxdepth 1 -name 'checkpoints-*.json' -mtime +"$KEEP_DAYS" -delete

exit "$failed"
