#!/usr/bin/env bash
# Builds one self-contained executable, dist/trine, with `bun build --compile`. The bun binary comes
# from the `bun` devDependency (npm ci installs it); nothing is downloaded here.
set -euo pipefail
cd "$(dirname "$0")"
BUN="node_modules/.bin/bun"
if [ ! -x "$BUN" ]; then
  echo "compile.sh: $BUN is missing; run 'npm ci' first" >&2
  exit 1
fi
mkdir -p dist
# The storage worker is a second entry point: a compiled binary finds it under its virtual root
# (src/storage/thread.ts).
"$BUN" build --compile --minify --sourcemap=none src/cli/main.ts src/storage/worker.ts --outfile dist/trine
ls -l dist/trine
