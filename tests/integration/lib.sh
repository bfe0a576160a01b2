# Helpers for integration cases: . "$KXEN_SRC/tests/integration/lib.sh"
# Each check prints what it expected on failure and exits 1 (the case fails).

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# need_kxen: the built binary exists (a clear line instead of "not found").
need_kxen() {
    [ -x "$KXEN" ] || fail "no kxen binary at $KXEN (build first: ninja -C $KXEN_BUILD)"
}

# expect_status WANT CMD...: runs CMD, its exit status must be WANT.
expect_status() {
    want=$1
    shift
    "$@"
    got=$?
    [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want"
}

# expect_eq WHAT GOT WANT
expect_eq() {
    [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
}

# expect_grep PATTERN FILE: FILE has a line matching the extended regex PATTERN.
expect_grep() {
    grep -Eq -- "$1" "$2" || {
        echo "--- $2:" >&2
        tail -n 40 "$2" >&2
        fail "no line matching '$1' in $2"
    }
}
