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
#   adgate-<time>-secrets.tar.gpg       /etc/adgate (adgate.env, worker.env) and the instance
#                                       folder (audit-signing.pem, config.py)
#
# The database alone is not enough: without ADGATE_TOTP_KEYS every two-factor enrolment is
# lost (the secrets are encrypted with them), without the signing key no new checkpoint or
# export can be signed with the key the auditors hold. The secrets are a separate file so they
# can be kept apart from the dumps (e.g. only in the safe). Copying the files off this host is
# the site's job (rsync, borg, the storage's agent): they are encrypted, any store will do.
#
# Settings (environment): BACKUP_DIR (default /var/backups/adgate), BACKUP_GPG_RECIPIENT
# (required: the key's fingerprint, imported into GNUPGHOME), BACKUP_KEEP_DAYS (default 35:
# how long erased people's data may live on in backups), ADGATE_HOME (default /opt/adgate),
# ADGATE_ETC (default /etc/adgate), ADGATE_BACKUP_DATABASE_URL (default ADGATE_DATABASE_URL).
set -euo pipefail
umask 077

BACKUP_DIR=${BACKUP_DIR:-/var/backups/adgate}
BACKUP_KEEP_DAYS=${BACKUP_KEEP_DAYS:-35}
ADGATE_HOME=${ADGATE_HOME:-/opt/adgate}
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

stamp=$(date -u +%Y%m%dT%H%M%SZ)
prefix="$BACKUP_DIR/adgate-$stamp"
flask=("$ADGATE_HOME/.venv/bin/flask" --app wsgi)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$BACKUP_DIR"

encrypt() { # encrypt STDIN to FILE (written under a temporary name, renamed when complete)
    gpg --batch --yes --quiet --trust-model always --recipient "$BACKUP_GPG_RECIPIENT" \
        --encrypt --output "$1.partial"
    mv "$1.partial" "$1"
}

# 1. A checkpoint of the chain as it is now, then every checkpoint so far. Taken before the
#    dump, so every checkpoint in the file is also in the dump: after a restore,
#    `flask audit check-checkpoints` with this file must find them all.
cd "$ADGATE_HOME"
"${flask[@]}" audit checkpoint
"${flask[@]}" audit checkpoints --out "$work/checkpoints.json"
encrypt "$prefix-checkpoints.json.gpg" <"$work/checkpoints.json"

# 2. The database, in pg_dump's custom format (compressed; pg_restore can pick from it).
pg_dump --format=custom --dbname="$database_url" | encrypt "$prefix-db.dump.gpg"

# 3. The secrets and the instance folder (no SQLite files: the database is the dump above).
tar --create --file=- --exclude='*.sqlite3*' \
    --directory=/ "${ADGATE_ETC#/}" "${ADGATE_INSTANCE_PATH#/}" | encrypt "$prefix-secrets.tar.gpg"

# 4. Older backups go: an erased person's data must not outlive BACKUP_KEEP_DAYS in them.
find "$BACKUP_DIR" -maxdepth 1 -name 'adgate-*.gpg' -mtime "+$BACKUP_KEEP_DAYS" -delete

ls -l "$prefix"-*
echo "adgate-backup: done ($prefix-*)"
