#!/bin/bash
# test/check-layers.sh: the include rules of DESIGN.md's folders and layers.
#   - a folder under src/ includes only itself and folders of lower layers (LAYERS below);
#   - includes are written relative to src/ ("flow/engine.h"), never "../";
#   - no include cycle between the modules of a folder (foo.c + foo.h are one module);
#   - every header compiles on its own.
# Prints "ok   NAME" / "FAIL NAME: why" and "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1

# Lowest first; folders on one line are one layer and may not include each other. web sits
# above the other consumers: it serves what they keep (history queries, alerts).
LAYERS='core
decode
policy
flow
box
capture ntap
query
store alert export
web
daemon tap'

OUT=$(mktemp)
(LAYERS="$LAYERS" python3 - <<'PY'
import os, re, sys
layers = {}
for level, line in enumerate(os.environ["LAYERS"].splitlines()):
    for folder in line.split():
        layers[folder] = level
inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
passed = failed = 0

def report(ok, name, why=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}: {why}")

files = []
for base in ("src", "test"):
    for dp, _, fn in os.walk(base):
        files += [os.path.join(dp, f) for f in fn if f.endswith((".c", ".h"))]
files.sort()

def resolve(path, target):
    """The header's path relative to src/, or None when it is not a project header."""
    for cand in (os.path.join("src", target), os.path.join(os.path.dirname(path), target)):
        cand = os.path.normpath(cand)
        if cand.startswith("src/") and os.path.exists(cand):
            return os.path.relpath(cand, "src")
    return None

relative = []
edges = {}          # module -> set of modules, within src/
by_folder = {}
for path in files:
    text = open(path, errors="replace").read()
    for target in inc.findall(text):
        if target.startswith("../"):
            relative.append(f"{path} includes \"{target}\"")
        if not path.startswith("src/"):
            continue
        header = resolve(path, target)
        if not header:
            continue
        me = os.path.relpath(path, "src")
        folder, hfolder = me.split("/")[0], header.split("/")[0]
        by_folder.setdefault(folder, [])
        if hfolder != folder:
            if folder not in layers or hfolder not in layers:
                continue  # reported below as a folder not in the list
            if layers[hfolder] >= layers[folder]:
                by_folder[folder].append(
                    f"src/{me} includes {header}: {folder} (level {layers[folder]}) may not "
                    f"include {hfolder} (level {layers[hfolder]})")
        else:
            a, b = os.path.splitext(me)[0], os.path.splitext(header)[0]
            if a != b:
                edges.setdefault(a, set()).add(b)

folders = sorted(d for d in os.listdir("src") if os.path.isdir(os.path.join("src", d)))
for folder in folders:
    if folder not in layers:
        report(False, f"layers: src/{folder}", "folder not in the layer list (test/check-layers.sh)")
        continue
    bad = by_folder.get(folder, [])
    report(not bad, f"layers: src/{folder} includes only lower layers", "; ".join(bad))

report(not relative, "includes are src-relative", "; ".join(relative[:10]))

# Cycles between modules of one folder (depth-first search, each cycle reported once). A header
# with no .c of its own (an _internal.h, inline helpers) is not a module: the includes pass
# through it to the modules it names.
def is_module(m):
    return os.path.exists(os.path.join("src", m + ".c"))
def through(n, seen):
    out = set()
    for m in edges.get(n, ()):
        if m in seen:
            continue
        seen.add(m)
        out |= {m} if is_module(m) else through(m, seen)
    return out
edges = {n: {m for m in through(n, {n}) if m != n} for n in list(edges) if is_module(n)}
cycles, state, stack = [], {}, []
def visit(n):
    state[n] = 1
    stack.append(n)
    for m in sorted(edges.get(n, ())):
        if state.get(m) == 1:
            cycles.append(" -> ".join(stack[stack.index(m):] + [m]))
        elif not state.get(m):
            visit(m)
    stack.pop()
    state[n] = 2
for n in sorted(edges):
    if not state.get(n):
        visit(n)
report(not cycles, "no include cycles between modules", "; ".join(cycles))
PY
) | tee "$OUT"

# Every header compiles on its own (a header includes what it uses).
CFLAGS="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fsyntax-only -Isrc $(pkg-config --cflags libuv libpcap libndpi libsodium lua5.4 sqlite3 libcjson libh2o libssl 2>/dev/null)"
export CFLAGS
# NUL-separated names (any file name); each failure prints "header: first error line".
ERRS=$(mktemp -d); export ERRS
bad=$(find src -name '*.h' -print0 | sort -z | xargs -0 -r -P2 -n1 sh -c \
    'printf "#include \"%s\"\n" "${1#src/}" | ${CC:-cc} $CFLAGS -x c - -o /dev/null 2>"$ERRS/$$" \
        || printf "%s: %s\n" "$1" "$(grep -m1 error "$ERRS/$$")"' _)
rm -rf "$ERRS"
n=$(find src -name '*.h' -print0 | tr -cd '\0' | wc -c)
if [ -z "$bad" ]; then
    echo "ok   headers: all $n compile on their own" | tee -a "$OUT"
else
    echo "FAIL headers: $(printf '%s\n' "$bad" | wc -l) of $n do not compile on their own:" | tee -a "$OUT"
    printf '%s\n' "$bad" | sed 's/^/    /'
fi
passed=$(grep -c '^ok ' "$OUT")
failed=$(grep -c '^FAIL ' "$OUT")
rm -f "$OUT"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
