#!/usr/bin/env bash
# Crash safety of a capturing run: SIGINT, SIGTERM and a full disk each leave every completed step
# readable (numpy loads every indexed array) and a manifest that says complete: false.
# usage: crash-safety.sh DLMSCOPE MODEL_DIR WORK_DIR
set -uo pipefail
BIN=$1 MODEL=$2 WORK=$3
PY=/usr/bin/python3
passed=0 failed=0
rm -rf "$WORK" && mkdir -p "$WORK"

ok() { echo "ok: $1"; passed=$((passed + 1)); }
bad() { echo "FAIL: $1"; failed=$((failed + 1)); }

# Checks the manifest says incomplete, names an error, and every indexed array loads.
# $1 = manifest path, $2 = minimum number of indexed steps.
check_incomplete() {
    "$PY" - "$1" "$2" <<'PYEOF'
import json, os, sys
import numpy as np
path, min_steps = sys.argv[1], int(sys.argv[2])
m = json.load(open(path))
assert m["complete"] is False, "manifest says complete"
assert m.get("error"), "manifest has no error"
root = os.path.dirname(path)
steps = set()
for a in m["arrays"]:
    f = os.path.join(root, a["file"])
    arr = np.load(f)[a["name"]] if f.endswith(".npz") else np.load(f)
    assert list(arr.shape) == a["shape"], (a, arr.shape)
    if "step" in a:
        steps.add(a["step"])
assert len(steps) >= min_steps, f"only {len(steps)} steps indexed"
assert steps == set(range(len(steps))), "indexed steps are not the completed prefix"
print(f"{len(steps)} completed steps readable; error: {m['error']}")
PYEOF
}

for sig in INT TERM; do
    out="$WORK/sig$sig"
    # A slow run (scalar reference kernels, long canvas) that the signal interrupts mid-way.
    "$BIN" generate "Tell me a story." --model "$MODEL" --backend reference --gen-length 512 --block-length 64 \
        --steps 512 --visualize-attention --out "$out" -q >/dev/null 2>"$out.err" &
    pid=$!
    for _ in $(seq 1 600); do
        [ -f "$out/generation_with_attention/step_00003.npz" ] && break
        sleep 0.1
    done
    kill -s "$sig" "$pid"
    wait "$pid"
    rc=$?
    if [ "$rc" -eq 130 ]; then ok "SIG$sig exits 130"; else bad "SIG$sig exit code $rc (want 130)"; fi
    if grep -q "cancelled" "$out.err"; then ok "SIG$sig says cancelled"; else bad "SIG$sig stderr: $(cat "$out.err")"; fi
    if check_incomplete "$out/generation_with_attention.json" 3; then ok "SIG$sig leaves a readable incomplete run"; else bad "SIG$sig run"; fi
done

# Full disk: a 2 MiB tmpfs holds two steps of all-head f32 maps (~0.9 MB each), not three.
disk="$WORK/smallfs"
mkdir -p "$disk"
if mount -t tmpfs -o size=2m tmpfs "$disk" 2>/dev/null; then
    "$BIN" generate "Hi" --model "$MODEL" --gen-length 128 --block-length 32 --steps 32 --visualize-attention \
        --capture-heads all --capture-dtype f32 --out "$disk/run" -q >/dev/null 2>"$WORK/disk.err"
    rc=$?
    if [ "$rc" -ne 0 ]; then ok "full disk exits non-zero ($rc)"; else bad "full disk exit 0"; fi
    if grep -q "No space left on device" "$WORK/disk.err" && grep -q "step_0000" "$WORK/disk.err"; then
        ok "full disk error names the file and reason"
    else
        bad "full disk stderr: $(cat "$WORK/disk.err")"
    fi
    if check_incomplete "$disk/run/generation_with_attention.json" 1; then ok "full disk leaves a readable incomplete run"; else bad "full disk run"; fi
    umount "$disk"
else
    # No permission to mount: a per-file size limit makes the same write fail with EFBIG.
    out="$WORK/fsize"
    (ulimit -f 600; "$BIN" generate "Hi" --model "$MODEL" --gen-length 128 --block-length 32 --steps 32 \
        --visualize-attention --capture-heads all --capture-dtype f32 --out "$out" -q >/dev/null 2>"$WORK/fsize.err")
    rc=$?
    if [ "$rc" -ne 0 ]; then ok "file size limit exits non-zero ($rc)"; else bad "file size limit exit 0"; fi
    if grep -q "File too large" "$WORK/fsize.err"; then ok "file size limit error names the reason"; else bad "fsize stderr: $(cat "$WORK/fsize.err")"; fi
    if check_incomplete "$out/generation_with_attention.json" 0; then ok "file size limit leaves a readable incomplete run"; else bad "fsize run"; fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
