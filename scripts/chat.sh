#!/usr/bin/env bash
# Command one of the README: set up, create the demo organisation tree with invite links, and
# chat with the bot in the terminal on the embedded defaults (SQLite file under data/, bundled
# corpus, the offline Bot API: no token needed). Extra arguments go to `stabot chat`
# (e.g. --user 10002 --lang en).
#
#   scripts/chat.sh [--user ID] [--name NAME] [--lang zh|en] [--files DIR]
#   scripts/chat.sh --help     this help and the chat's options, without setting anything up
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for arg in "$@"; do
    if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
        sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        cat <<'USAGE'

Options of the chat:
  --user ID       your Telegram user id (default 10001)
  --name NAME     your Telegram first name (default 联络员)
  --lang zh|en    your app language (default zh)
  --files DIR     where the photos and documents the bot sends are saved
                  (default data/chat-files; each saved file's path is printed)
In the chat: buttons are numbered (type the number), /file PATH sends a photo or document,
/quit leaves. A message the bot edits shows as "bot (edited #N)>" with what changed.
USAGE
        exit 0
    fi
done
bash scripts/setup.sh >&2
.venv/bin/stabot demo-data
exec .venv/bin/stabot chat "$@"
