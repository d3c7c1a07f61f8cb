#!/bin/sh
# Render the ACL template into the file Redis loads (aclfile in redis.conf).
#
#   render-acl.sh TEMPLATE SECRETS_DIR OUT
#
# SECRETS_DIR holds one file per role: ingest-password, worker-password, admin-password (a
# mounted Kubernetes Secret; other files there, such as an older keda-password, are ignored).
# Each @<ROLE>_PASSWORD_SHA256@ in TEMPLATE becomes the SHA-256 of that file's exact bytes, so
# OUT holds no password, only hashes.
# Comment and blank lines are dropped. OUT is written with mode 600. Fails, naming the file,
# when a password is missing or shorter than 16 bytes (the platform guide's minimum).
# POSIX sh with grep, sed, sha256sum and wc: runs in the redis image (Debian or Alpine).
set -eu

template=${1:?usage: render-acl.sh TEMPLATE SECRETS_DIR OUT}
secrets=${2:?usage: render-acl.sh TEMPLATE SECRETS_DIR OUT}
out=${3:?usage: render-acl.sh TEMPLATE SECRETS_DIR OUT}

umask 077
tmp="$out.tmp"
grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$template" > "$tmp"
for role in ingest worker admin; do
    file="$secrets/$role-password"
    if [ ! -f "$file" ]; then
        echo "render-acl: no password for $role: $file is missing" >&2
        rm -f "$tmp"
        exit 1
    fi
    size=$(wc -c < "$file")
    if [ "$size" -lt 16 ]; then
        echo "render-acl: the password in $file is shorter than 16 bytes" >&2
        rm -f "$tmp"
        exit 1
    fi
    hash=$(sha256sum < "$file" | cut -d ' ' -f 1)
    placeholder="@$(echo "$role" | tr 'a-z' 'A-Z')_PASSWORD_SHA256@"
    sed "s/$placeholder/$hash/g" "$tmp" > "$tmp.next"
    mv "$tmp.next" "$tmp"
done
if grep -q '@[A-Z]*_PASSWORD_SHA256@' "$tmp"; then
    echo "render-acl: $template has a placeholder for a role this script does not know" >&2
    rm -f "$tmp"
    exit 1
fi
mv "$tmp" "$out"
echo "render-acl: wrote $out"
