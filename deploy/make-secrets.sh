#!/usr/bin/env sh
# Makes the role passwords compose.yaml and the Kubernetes Secret read: one random
# password per role in deploy/secrets/ (which git ignores). Keeps files that exist.
set -eu
dir="$(dirname "$0")/secrets"
mkdir -p "$dir"
chmod 700 "$dir"
for role in worker coordinator; do
  f="$dir/$role-password"
  if [ -s "$f" ]; then
    echo "kept $f"
    continue
  fi
  # A letter, then 31 of [A-Za-z0-9]. nats-server reads the password from its environment
  # as a config value (deploy/nats/permissions.conf): one that looks like a number or a
  # size ("12345", "10MB") is refused, and "#" would start a comment and cut it short.
  { LC_ALL=C tr -dc 'A-Za-z' </dev/urandom | head -c 1; LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 31; } >"$f"
  # Readable inside the containers, whose user (uid 1000) is not the file's owner; the
  # folder (700) keeps other users of this machine out.
  chmod 644 "$f"
  echo "wrote $f"
done
