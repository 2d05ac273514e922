#!/usr/bin/env bash
# Make sure a CJK font is installed, so charts render Chinese labels (and the test that checks
# matplotlib resolves such a font passes on a fresh machine).
#
#   scripts/fonts.sh install   install Debian's fonts-noto-cjk when no CJK font is present
#                              (root with apt-get); otherwise say what to install and go on
#
# Never fails: without the font the bot still runs (charts show boxes for Chinese), and the
# test suite reports the missing font itself.
set -uo pipefail

log() { printf '[fonts] %s\n' "$*" >&2; }

has_cjk_font() {
    command -v fc-list >/dev/null 2>&1 || return 1
    [[ -n "$(fc-list ':lang=zh' family 2>/dev/null | head -n 1)" ]]
}

cmd_install() {
    if has_cjk_font; then
        return 0
    fi
    if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        log "no CJK font found: install fonts-noto-cjk (as root: apt-get install fonts-noto-cjk)"
        return 0
    fi
    log "installing fonts-noto-cjk"
    local opts=(-y -q --no-install-recommends -o Dpkg::Use-Pty=0)
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install "${opts[@]}" fonts-noto-cjk >&2; then
        log "apt-get install failed; refreshing package lists and retrying once"
        apt-get update -q >&2 && apt-get install "${opts[@]}" fonts-noto-cjk >&2 \
            || log "could not install fonts-noto-cjk; charts will lack Chinese glyphs"
    fi
    return 0
}

case "${1:-}" in
    install) cmd_install ;;
    *) sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
