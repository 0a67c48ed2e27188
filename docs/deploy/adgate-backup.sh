#!/usr/bin/env bash
# adgate's backup: the database, the secrets that make it usable, and the audit checkpoints.
#
#   install -o root -g root -m 0755 adgate-backup.sh /usr/local/sbin/adgate-backup
#
# Run by adgate-backup.service (daily, adgate-backup.timer) as the adgate user, with
# /etc/adgate/adgate.env in its environment. It writes three files per run into BACKUP_DIR,
# each encrypted to BACKUP_GPG_RECIPIENT, a key whose private half is NOT on this server:
#
#   adgate-<time>-checkpoints.json.gpg  every audit checkpoint up to the one taken just now
#   adgate-<time>-db.dump.gpg           pg_dump --format=custom of the whole database
#   adgate-<time>-secrets.tar.gpg       the files listed in BACKUP_FILES: adgate.env and the
#                                       instance folder (audit-signing.pem, config.py)
#
# Only files the service user may read are archived, and they are named one by one:
# migrate.env (the owner's password, root only) and worker.env (the Meta token, the workers'
# user only) are not, and are kept by whoever keeps the root passwords (the owner's password
# can be set anew with ALTER ROLE, the Meta token issued anew at Meta). A listed file the
# service user cannot read fails the run (it would be missing from a restore), loudly.
#
# The database alone is not enough: without ADGATE_TOTP_KEYS every two-factor enrolment is
# lost (the secrets are encrypted with them), without the signing key no new checkpoint or
# export can be signed with the key the auditors hold. The secrets are a separate file so they
# can be kept apart from the dumps (e.g. only in the safe). Copying the files off this host is
# the site's job (rsync, borg, the storage's agent): they are encrypted, any store will do.
#
# Settings (environment): BACKUP_DIR (default /var/backups/adgate), BACKUP_GPG_RECIPIENT
# (required: the key's fingerprint, imported into GNUPGHOME), BACKUP_KEEP_DAYS (default 35:
# how long erased people's data may live on in backups), ADGATE_HOME (default /opt/adgate/current,
# the release in service),
# ADGATE_ETC (default /etc/adgate), ADGATE_BACKUP_DATABASE_URL (default ADGATE_DATABASE_URL),
# BACKUP_FILES (default "$ADGATE_ETC/adgate.env $ADGATE_INSTANCE_PATH": files and folders,
# separated by spaces), BACKUP_METRICS_DIR (default /var/lib/prometheus/node-exporter: where
# node_exporter's textfile collector reads adgate_backup.prom; empty: no metrics).
#
# Every step runs even when one before it failed (a failed dump must not keep old backups
# beyond BACKUP_KEEP_DAYS); the run exits 1 when any step failed. Each run writes
#   adgate_backup_last_run_success               1 when every step succeeded, else 0
#   adgate_backup_last_success_timestamp_seconds when the last fully successful run ended
# for the backup's alerts (docs/deploy/adgate-alerts.yml).
set -uo pipefail
umask 077

BACKUP_DIR=${BACKUP_DIR:-/var/backups/adgate}
BACKUP_KEEP_DAYS=${BACKUP_KEEP_DAYS:-35}
ADGATE_HOME=${ADGATE_HOME:-/opt/adgate/current}
ADGATE_ETC=${ADGATE_ETC:-/etc/adgate}
: "${BACKUP_GPG_RECIPIENT:?set BACKUP_GPG_RECIPIENT to the fingerprint of the backup key}"
: "${ADGATE_INSTANCE_PATH:?ADGATE_INSTANCE_PATH is not set (is /etc/adgate/adgate.env loaded?)}"
database_url=${ADGATE_BACKUP_DATABASE_URL:-${ADGATE_DATABASE_URL:?ADGATE_DATABASE_URL is not set}}
# SQLAlchemy's driver name means nothing to libpq: postgresql+psycopg:// -> postgresql://
database_url=${database_url/#postgresql+psycopg:/postgresql:}
case $database_url in
postgresql://*) ;;
*) echo "adgate-backup: not a PostgreSQL database; the embedded SQLite is not backed up here" >&2; exit 2 ;;
esac

BACKUP_METRICS_DIR=${BACKUP_METRICS_DIR-/var/lib/prometheus/node-exporter}
BACKUP_FILES=${BACKUP_FILES:-"$ADGATE_ETC/adgate.env $ADGATE_INSTANCE_PATH"}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
prefix="$BACKUP_DIR/adgate-$stamp"
flask=("$ADGATE_HOME/.venv/bin/flask" --app wsgi)
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
mkdir -p "$BACKUP_DIR" || exit 1
failed=0

step() { # run a step; note its failure and go on with the next
    local name=$1
    shift
    if ! "$@"; then
        echo "adgate-backup: step '$name' failed" >&2
        [ "$failed" -ne 0 ] || failed=1
    fi
}

encrypt() { # encrypt STDIN to FILE (written under a temporary name, renamed when complete)
    gpg --batch --yes --quiet --trust-model always --recipient "$BACKUP_GPG_RECIPIENT" \
        --encrypt --output "$1.partial" && mv "$1.partial" "$1"
}

checkpoints() {
    # A checkpoint of the chain as it is now, then every checkpoint so far. Taken before the
    # dump, so every checkpoint in the file is also in the dump: after a restore,
    # `flask audit check-checkpoints` with this file must find them all.
    cd "$ADGATE_HOME" &&
        "${flask[@]}" audit checkpoint &&
        "${flask[@]}" audit checkpoints --out "$work/checkpoints.json" &&
        encrypt "$prefix-checkpoints.json.gpg" <"$work/checkpoints.json"
}

database() { # pg_dump's custom format (compressed; pg_restore can pick from it)
    pg_dump --format=custom --dbname="$database_url" | encrypt "$prefix-db.dump.gpg"
}

secrets() { # the listed files only (no SQLite files: the database is the dump above)
    local path members=()
    for path in $BACKUP_FILES; do
        if [ ! -r "$path" ] || { [ -d "$path" ] && [ ! -x "$path" ]; }; then
            echo "adgate-backup: $path is not readable by $(id -un); not archived" >&2
            return 1
        fi
        members+=("${path#/}")
    done
    tar --create --file=- --exclude='*.sqlite3*' --directory=/ "${members[@]}" |
        encrypt "$prefix-secrets.tar.gpg"
}

retention() { # an erased person's data must not outlive BACKUP_KEEP_DAYS in the backups
    find "$BACKUP_DIR" -maxdepth 1 \( -name 'adgate-*.gpg' -o -name 'adgate-*.gpg.partial' \) \
        -mtime "+$BACKUP_KEEP_DAYS" -delete
}

metrics() { # node_exporter's textfile format, replaced atomically
    [ -n "$BACKUP_METRICS_DIR" ] || return 0
    local file="$BACKUP_METRICS_DIR/adgate_backup.prom" last=""
    local ok=$((failed == 0 ? 1 : 0)) now
    now=$(date +%s)
    if [ "$ok" -eq 1 ]; then
        last=$now
    elif [ -r "$file" ]; then
        last=$(awk '$1 == "adgate_backup_last_success_timestamp_seconds" {print $2}' "$file")
    fi
    {
        echo "# HELP adgate_backup_last_run_success Whether the last backup run succeeded in every step."
        echo "# TYPE adgate_backup_last_run_success gauge"
        echo "adgate_backup_last_run_success $ok"
        echo "# HELP adgate_backup_last_success_timestamp_seconds When the last successful backup run ended."
        echo "# TYPE adgate_backup_last_success_timestamp_seconds gauge"
        echo "adgate_backup_last_success_timestamp_seconds ${last:-0}"
    } >"$file.$$" && chmod 0644 "$file.$$" && mv "$file.$$" "$file"
}

step checkpoints checkpoints
step database database
step secrets secrets
step retention retention
step metrics metrics

if [ "$failed" -ne 0 ]; then
    echo "adgate-backup: FAILED (see the steps above); older backups were still pruned" >&2
    exit 1
fi
ls -l "$prefix"-*
echo "adgate-backup: done ($prefix-*)"
