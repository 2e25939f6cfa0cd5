#!/usr/bin/env bash
# The committed element reference must match what gst-inspect-1.0 prints for
# the current build. Regenerate with:
#   meson devenv -C build ../scripts/gen-element-docs ../docs/reference/elements
set -euo pipefail
src=${PHYSNN_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$src/scripts/gen-element-docs" "$tmp" >/dev/null
if ! diff -ru "$src/docs/reference/elements" "$tmp"; then
  echo "docs/reference/elements is out of date; regenerate it (see above)" >&2
  exit 1
fi
echo "element reference up to date: $(ls "$tmp" | wc -l) pages"
