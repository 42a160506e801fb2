#!/bin/sh
# Run the project's Python with the given arguments: `sh flows/py.sh -m flows.seed --validate-only`.
#
# dvc.yaml's stage commands call this instead of a bare `python`, so `dvc repro` works from any shell: an
# activated venv or not, `make run` or `.venv/bin/dvc repro` typed by hand. The interpreter is the first of
# these that has the dreamgym project installed (its distribution metadata and prefect, checked without
# importing either, so the check costs milliseconds):
#   1. $VIRTUAL_ENV/bin/python   (an activated venv)
#   2. <repo>/.venv/bin/python   (what `make setup` builds)
#   3. the Python running the `dvc` that runs this stage (found in the parent processes), then the python next
#      to the first `dvc` on PATH
#   4. python3, then python, on PATH
# If none has it, one `error:` line and exit 2; nothing runs. DREAMGYM_PYTHON=/path/to/python skips the search.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

has_project() {
    [ -n "$1" ] && [ -x "$1" ] || command -v "$1" >/dev/null 2>&1 || return 1
    "$1" -c 'import importlib.metadata as m, importlib.util as u, sys
m.version("dreamgym")
sys.exit(0 if u.find_spec("prefect") else 1)' >/dev/null 2>&1
}

# the interpreter of the `dvc` process above us: its command line is "<python> <.../dvc> ..." (a console
# script) or "<python> -m dvc ..."
dvc_python() {
    pid=$$
    i=0
    while [ "$i" -lt 6 ] && [ -n "$pid" ] && [ "$pid" -gt 1 ] 2>/dev/null; do
        args=$(ps -o args= -p "$pid" 2>/dev/null) || return 0
        set -f  # split the command line into words, but expand no globs
        set -- $args
        set +f
        if [ $# -ge 2 ]; then
            case "$(basename "$1")" in
                python*)
                    case "$2" in
                        */dvc | dvc) echo "$1"; return 0 ;;
                        -m) [ "${3:-}" = dvc ] && { echo "$1"; return 0; } ;;
                    esac ;;
            esac
        fi
        pid=$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ')
        i=$((i + 1))
    done
    return 0
}

if [ -n "${DREAMGYM_PYTHON:-}" ]; then
    if has_project "$DREAMGYM_PYTHON"; then exec "$DREAMGYM_PYTHON" "$@"; fi
    echo "error: flows/py.sh: DREAMGYM_PYTHON=$DREAMGYM_PYTHON has no dreamgym installed (pip install -e . there)" >&2
    exit 2
fi

tried=""
on_path_dvc=$(command -v dvc 2>/dev/null || true)
for py in "${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}" "$root/.venv/bin/python" "$(dvc_python)" \
          "${on_path_dvc:+$(dirname "$on_path_dvc")/python}" python3 python; do
    [ -n "$py" ] || continue
    if has_project "$py"; then
        exec "$py" "$@"
    fi
    tried="$tried $py"
done
echo "error: flows/py.sh: no Python with the dreamgym project installed (tried:$tried); run \`make setup\` in $root, or activate the project's venv, or set DREAMGYM_PYTHON" >&2
exit 2
