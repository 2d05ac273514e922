#!/usr/bin/env bash
# One command sets up and runs the whole test suite:
#
#   scripts/test.sh [--sqlite-only | --pg-only] [--] [pytest args...]
#
#   1. scripts/setup.sh       .venv with stabot[test] (quick when up to date)
#   2. ruff check .           lint
#   3. pytest on SQLite       STABOT_TEST_DATABASE_URL unset: tests use a temp file
#   4. pytest on PostgreSQL   a private throw-away cluster (scripts/postgres.sh),
#                             never the system one, on a free loopback port;
#                             stopped and deleted on exit
#
# Anything after `--` (or any argument not listed above) goes to pytest, e.g.
# `scripts/test.sh -- -k orgs -x`. The exit code is non-zero if lint or any
# pytest run fails, including pytest's "no tests collected" (exit 5), a run in
# which no test passed, or PostgreSQL that cannot be installed or started:
# a database we could not test is a failure, not a skip.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
scripts="$repo_root/scripts"
venv="${STABOT_VENV:-$repo_root/.venv}"
py="$venv/bin/python"

usage() {
    sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit "${1:-2}"
}

run_sqlite=1
run_pg=1
pytest_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --sqlite-only) run_pg=0 ;;
        --pg-only) run_sqlite=0 ;;
        -h | --help) usage 0 ;;
        --)
            shift
            pytest_args+=("$@")
            break
            ;;
        *) pytest_args+=("$1") ;;
    esac
    shift
done
if ((run_sqlite == 0 && run_pg == 0)); then
    echo "error: --sqlite-only and --pg-only exclude each other" >&2
    exit 2
fi

banner() { printf '\n===== %s =====\n' "$*"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/stabot-test.XXXXXX")"
pg_dir=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local rc=$?
    if [[ -n "$pg_dir" ]]; then
        bash "$scripts/postgres.sh" stop "$pg_dir" || true
        rm -rf -- "$pg_dir"
    fi
    rm -rf -- "$work"
    exit "$rc"
}
trap cleanup EXIT
# Turn Ctrl-C / kill into a normal exit so the EXIT trap stops the cluster.
trap 'exit 130' INT
trap 'exit 143' TERM

banner "setup"
bash "$scripts/setup.sh"
# Charts label in Chinese; as root a missing CJK font is installed like PostgreSQL below.
bash "$scripts/fonts.sh" install
export PATH="$venv/bin:$PATH"

declare -a summary=()
failed=0
total_passed=0
total_failed=0
total_skipped=0

banner "lint: ruff check ."
if ruff check .; then
    summary+=("lint (ruff check)  PASS")
else
    summary+=("lint (ruff check)  FAIL")
    failed=1
fi

# Read pass/fail/skip counts from pytest's JUnit XML; prints "P F S" (errors,
# i.e. collection or fixture errors, count as failed) or nothing if unreadable.
junit_counts() {
    "$py" - "$1" <<'EOF' 2>/dev/null || true
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
tests = failures = errors = skipped = 0
for s in suites:
    tests += int(s.get("tests", 0))
    failures += int(s.get("failures", 0))
    errors += int(s.get("errors", 0))
    skipped += int(s.get("skipped", 0))
print(tests - failures - errors - skipped, failures + errors, skipped)
EOF
}

# run_pytest LABEL [VAR=value...]: run the suite with the given environment and
# record one summary line.
run_pytest() {
    local label="$1" xml rc=0 start counts passed=0 nfail=0 nskip=0 verdict note=""
    shift
    xml="$work/junit-$label.xml"
    start=$SECONDS
    # The JUnit file comes first so a caller's own --junitxml wins.
    env "$@" "$py" -m pytest --junitxml="$xml" -o junit_family=xunit2 \
        ${pytest_args[@]+"${pytest_args[@]}"} || rc=$?
    counts="$(junit_counts "$xml")"
    if [[ -n "$counts" ]]; then
        read -r passed nfail nskip <<<"$counts"
        total_passed=$((total_passed + passed))
        total_failed=$((total_failed + nfail))
        total_skipped=$((total_skipped + nskip))
        note="$passed passed, $nfail failed, $nskip skipped"
    fi
    if ((rc == 0 && passed == 0 && ${#counts} > 0)); then
        verdict=FAIL
        note="${note}; no test passed (all skipped?)"
    elif ((rc == 0)); then
        verdict=PASS
    elif ((rc == 5)); then
        verdict=FAIL
        note="${note:+$note; }pytest exit 5: no tests collected"
    else
        verdict=FAIL
        note="${note:+$note; }pytest exit $rc"
    fi
    [[ $verdict == PASS ]] || failed=1
    summary+=("$(printf '%-18s %s  %s (%ss)' "$label" "$verdict" "$note" $((SECONDS - start)))")
}

# free_port ATTEMPT: 54329 on the first attempt if it is free, else any free
# loopback port the kernel hands out.
free_port() {
    "$py" - "$1" <<'EOF'
import socket
import sys


def free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return None
        return s.getsockname()[1]


print((sys.argv[1] == "1" and free(54329)) or free(0))
EOF
}

if ((run_sqlite)); then
    banner "pytest on SQLite"
    # -u: a URL exported in the caller's shell must not turn this into a PG run.
    run_pytest sqlite -u STABOT_TEST_DATABASE_URL
fi

if ((run_pg)); then
    banner "pytest on PostgreSQL"
    pg_ok=1
    # install is a no-op when the binaries exist; as non-root without them it
    # fails with a clear message, which fails this run (no silent skip).
    if ! bash "$scripts/postgres.sh" install; then
        pg_ok=0
    fi
    if ((pg_ok)); then
        pg_ok=0
        # Other runs (another developer's test.sh in the same tree, a system
        # cluster on 5432) may hold a port between our check and the server's
        # bind, so try a few times: first the conventional 54329, then ports
        # the kernel says are free.
        for attempt in 1 2 3; do
            port="$(free_port "$attempt")"
            # Under /tmp (world-searchable) rather than $work: when root runs
            # this, the server runs as `postgres`, which cannot enter the
            # mode-700 $work.
            pg_dir="$(mktemp -d /tmp/stabot-pg.XXXXXX)"
            if url="$(bash "$scripts/postgres.sh" start "$pg_dir" "$port")"; then
                pg_ok=1
                break
            fi
            echo "PostgreSQL did not start on port $port (attempt $attempt)" >&2
            bash "$scripts/postgres.sh" stop "$pg_dir" || true
            rm -rf -- "$pg_dir"
            pg_dir=""
        done
        if ((pg_ok)); then
            echo "PostgreSQL test database: $url"
            run_pytest postgresql STABOT_TEST_DATABASE_URL="$url"
            # Stop now rather than in the EXIT trap, so the summary below is
            # the last thing printed; the trap covers errors and Ctrl-C.
            bash "$scripts/postgres.sh" stop "$pg_dir" || true
            rm -rf -- "$pg_dir"
            pg_dir=""
        fi
    fi
    if ((pg_ok == 0)); then
        summary+=("postgresql         FAIL  PostgreSQL could not be installed or started (see above)")
        failed=1
    fi
fi

banner "summary"
printf '%s\n' "${summary[@]}"
if ((failed)); then
    echo "RESULT: FAIL (${SECONDS}s)"
else
    echo "RESULT: PASS (${SECONDS}s)"
fi
# Plain closing line with the counts over all runs (kept last on purpose).
echo "total: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit "$failed"
