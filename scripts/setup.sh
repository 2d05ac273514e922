#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv and install
# stabot editable with its test extras.
#
# Idempotent and quick on a second run: after a successful install we write a
# stamp inside .venv holding the hash of pyproject.toml (plus the interpreter
# version). When the stamp still matches, the pip step is skipped entirely, so
# `scripts/test.sh` can call this every time without paying for pip.
#
# Environment:
#   PYTHON       interpreter used to create the venv (default: python3)
#   STABOT_VENV  venv location (default: <repo>/.venv)
#   FORCE=1      reinstall even when the stamp matches
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

python="${PYTHON:-python3}"
venv="${STABOT_VENV:-$repo_root/.venv}"
stamp="$venv/.stabot-install-stamp"

log() { printf '[setup] %s\n' "$*" >&2; }

# Several people (or a test.sh and an editor hook) may run this at once in
# the same tree; two pips writing one venv corrupt it. Serialise on a lock
# keyed by the venv path and user (kept outside the venv, which we may
# delete; per user because /tmp files of other users are not writable).
lock="${TMPDIR:-/tmp}/stabot-setup.$(id -u).$(printf '%s' "$venv" | sha256sum | cut -c1-16).lock"
if exec 9>"$lock"; then
    if ! flock -n 9; then
        log "another setup.sh is working on $venv; waiting for it"
        flock 9
    fi
else
    log "warning: cannot open $lock; continuing without the lock"
fi

if ! command -v "$python" >/dev/null 2>&1; then
    log "error: '$python' not found; install Python 3.11+ or set PYTHON"
    exit 1
fi
# pyproject says requires-python >= 3.11; fail early with a readable message
# instead of a pip resolver error.
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    log "error: $("$python" --version 2>&1) is too old; stabot needs Python >= 3.11"
    exit 1
fi

# A venv whose interpreter no longer runs (e.g. the base Python was removed or
# upgraded) is useless; rebuild it from scratch rather than limp along.
# Only ever delete what is ours and really a venv: a venv another user made
# (its interpreter may just be unreadable to us) is reported, not removed.
if [[ -d "$venv" ]] && ! "$venv/bin/python" -c 'pass' >/dev/null 2>&1; then
    if [[ -O "$venv" && -f "$venv/pyvenv.cfg" ]]; then
        log "existing $venv is broken; recreating it"
        rm -rf -- "$venv"
    else
        log "error: $venv exists but its python does not run for $(id -un), and it is not ours to recreate; set STABOT_VENV"
        exit 1
    fi
fi
if [[ ! -x "$venv/bin/python" ]]; then
    log "creating virtual environment in $venv"
    "$python" -m venv "$venv"
fi

# What the install depends on: the dependency declaration and the interpreter.
# sha256sum is coreutils, so it is present on any Debian machine.
want="$(
    {
        sha256sum pyproject.toml
        "$venv/bin/python" -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1
)"

if [[ "${FORCE:-0}" != 1 && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "dependencies up to date (pyproject.toml unchanged); skipping pip"
    exit 0
fi

# Remove the stamp first so an interrupted install is retried next time.
rm -f "$stamp"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
log "upgrading pip"
"$venv/bin/python" -m pip install --quiet --upgrade pip
log "installing stabot[test] (editable)"
"$venv/bin/python" -m pip install --quiet -e ".[test]"
printf '%s\n' "$want" >"$stamp"
log "done"
