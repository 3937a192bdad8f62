# Sourced by .ci/run: a throwaway PostgreSQL server on 127.0.0.1 for the test of workers sharing a search
# (tests/test_search.py). `start_test_postgres` installs Debian's postgresql when its binaries are missing
# (as root, else through sudo), creates a cluster in a temporary folder (trust authentication, loopback
# only, a free port), starts it, creates a database and exports
#   PLAYBOOK_TUNER_TEST_POSTGRES=postgresql+psycopg://tuner@127.0.0.1:<port>/tuner_test
# and stops it, deleting the folder, when the calling shell exits (added to its EXIT trap, whatever that
# trap already does). When anything fails it says why and returns 1: the test then skips (fails under CI=true).

_test_postgres_dir=""
_test_postgres_bin=""
_test_postgres_previous_exit=""

_test_postgres_as_owner() {
    # PostgreSQL refuses to run as root: root runs the server as Debian's postgres user.
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

stop_test_postgres() {
    if [[ -n "$_test_postgres_dir" && -d "$_test_postgres_dir" ]]; then
        _test_postgres_as_owner "$_test_postgres_bin/pg_ctl" -D "$_test_postgres_dir/data" -m fast -w stop \
            >/dev/null 2>&1 || true
        rm -rf "$_test_postgres_dir"
    fi
    _test_postgres_dir=""
}

_test_postgres_status() {
    return "$1"
}

_test_postgres_on_exit() {
    local status=$?
    stop_test_postgres
    # The EXIT trap that was there before runs next, with $? the shell's exit status (a failing
    # condition of `if` does not trip errexit, and each branch starts with $? = the condition's status).
    if _test_postgres_status "$status"; then
        eval "$_test_postgres_previous_exit"
    else
        eval "$_test_postgres_previous_exit"
    fi
}

start_test_postgres() {
    if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
        local install='apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql'
        if [[ "$(id -u)" == 0 ]]; then
            bash -c "$install" >/dev/null || { echo ".ci/postgres.sh: installing postgresql failed" >&2; return 1; }
        elif command -v sudo >/dev/null 2>&1; then
            sudo bash -c "$install" >/dev/null || { echo ".ci/postgres.sh: installing postgresql failed" >&2; return 1; }
        else
            echo ".ci/postgres.sh: PostgreSQL is missing and neither root nor sudo can install it" \
                "(apt-get install postgresql); the PostgreSQL test will skip (fail under CI=true)" >&2
            return 1
        fi
    fi
    _test_postgres_bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    _test_postgres_dir=$(mktemp -d /tmp/playbook-tuner-postgres.XXXXXX)
    chmod 755 "$_test_postgres_dir"
    if [[ "$(id -u)" == 0 ]]; then
        chown postgres "$_test_postgres_dir"
    fi
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if [[ -n "$(trap -p EXIT)" ]]; then
        eval "set -- $(trap -p EXIT)"  # trap -p prints the trap as quoted words: trap -- 'command' EXIT
        _test_postgres_previous_exit=$3
    fi
    trap _test_postgres_on_exit EXIT
    if ! _test_postgres_as_owner "$_test_postgres_bin/initdb" -D "$_test_postgres_dir/data" -U tuner -A trust \
            --no-sync >"$_test_postgres_dir/initdb.log" 2>&1 \
        || ! _test_postgres_as_owner "$_test_postgres_bin/pg_ctl" -D "$_test_postgres_dir/data" -w \
            -l "$_test_postgres_dir/server.log" \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $_test_postgres_dir -c fsync=off" start >/dev/null \
        || ! _test_postgres_as_owner "$_test_postgres_bin/createdb" -h 127.0.0.1 -p "$port" -U tuner tuner_test; then
        echo ".ci/postgres.sh: the throwaway PostgreSQL server did not start:" >&2
        cat "$_test_postgres_dir"/*.log >&2 2>/dev/null || true
        stop_test_postgres
        return 1
    fi
    export PLAYBOOK_TUNER_TEST_POSTGRES="postgresql+psycopg://tuner@127.0.0.1:$port/tuner_test"
}
