#!/usr/bin/env bash
# Copies the browser tests' desk-size screenshots of the dashboard and a
# meter page into docs/screenshots/ for the README (run the tests first:
# `cargo test -p yufu --test browser`). Re-encodes them smaller with
# pngquant when it is installed (apt-get install pngquant).
set -euo pipefail
cd "$(dirname "$0")/.."
src="${CARGO_TARGET_DIR:-target}/e2e/screenshots"
mkdir -p docs/screenshots
for name in dashboard meter; do
  file="$src/$name-desktop.png"
  [ -f "$file" ] || { echo "no $file: run the browser tests first" >&2; exit 1; }
  if command -v pngquant >/dev/null; then
    pngquant --force --quality 60-85 --output "docs/screenshots/$name.png" "$file"
  else
    cp "$file" "docs/screenshots/$name.png"
  fi
  echo "docs/screenshots/$name.png: $(stat -c %s "docs/screenshots/$name.png") bytes"
done
