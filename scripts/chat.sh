#!/usr/bin/env bash
# Command one of the README: set up, create the demo organisation tree with invite links, and
# chat with the bot in the terminal on the embedded defaults (SQLite file under data/, bundled
# corpus, the offline Bot API: no token needed). Extra arguments go to `stabot chat`
# (e.g. --user 10002 --lang en).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >&2
.venv/bin/stabot demo-data
exec .venv/bin/stabot chat "$@"
