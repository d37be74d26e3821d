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

# Each signal on plain decoding, and SIGINT on each cached mode (Fast-dLLM prefix/dual, threshold).
for case in "INT" "TERM" "INT --cache prefix" "INT --cache dual --parallel-threshold 0.9"; do
    read -r sig mode <<<"$case"
    out="$WORK/sig$sig${mode// /}"
    # A slow run (scalar reference kernels, long canvas) that the signal interrupts mid-way.
    # shellcheck disable=SC2086
    "$BIN" generate "Tell me a story." --model "$MODEL" --backend reference --gen-length 512 --block-length 64 \
        --steps 512 $mode --visualize-attention --out "$out" -q >/dev/null 2>"$out.err" &
    pid=$!
    for _ in $(seq 1 600); do
        [ -f "$out/generation_with_attention/step_00003.npz" ] && break
        sleep 0.1
    done
    kill -s "$sig" "$pid"
    wait "$pid"
    rc=$?
    what="SIG$sig${mode:+ ($mode)}"
    if [ "$rc" -eq 130 ]; then ok "$what exits 130"; else bad "$what exit code $rc (want 130)"; fi
    if grep -q "cancelled" "$out.err"; then ok "$what says cancelled"; else bad "$what stderr: $(cat "$out.err")"; fi
    if check_incomplete "$out/generation_with_attention.json" 3; then ok "$what leaves a readable incomplete run"; else bad "$what run"; fi
done

# A run directory that already holds a run: refused without a byte of the old run changing, then
# replaced with --overwrite.
out="$WORK/existing"
"$BIN" generate "Hi" --model "$MODEL" --gen-length 32 --block-length 16 --steps 8 --visualize-attention --out "$out" -q >/dev/null
before=$(cd "$out" && find . -type f -exec sha256sum {} + | sort)
if "$BIN" generate "Other" --model "$MODEL" --gen-length 32 --block-length 16 --steps 8 --save-history --out "$out" -q \
        >/dev/null 2>"$WORK/existing.err"; then
    bad "generate into an existing run exits 0"
else
    if grep -q "already holds a run" "$WORK/existing.err"; then ok "existing run refused with a message"; else bad "existing run stderr: $(cat "$WORK/existing.err")"; fi
fi
after=$(cd "$out" && find . -type f -exec sha256sum {} + | sort)
if [ "$before" = "$after" ]; then ok "the existing run is unchanged"; else bad "the existing run changed"; fi
if "$BIN" generate "Other" --model "$MODEL" --gen-length 32 --block-length 16 --steps 8 --save-history --overwrite --out "$out" -q \
        >/dev/null && "$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); assert m['prompt']=='Other' and m['complete']
assert not [a for a in m['arrays'] if a['kind']!='history'], m['arrays']" "$out/generation_with_attention.json" \
        && [ -z "$(ls "$out/generation_with_attention" | grep step_)" ]; then
    ok "--overwrite replaces the run (old steps removed)"
else
    bad "--overwrite"
fi

# Full disk: a 2 MiB tmpfs holds two steps of all-head f32 maps (~0.9 MB each), not three. Plain
# decoding and the dual cache ($1: extra generate options).
full_disk() {
    local mode=$1 what="full disk${1:+ ($1)}" disk="$WORK/smallfs"
    mkdir -p "$disk"
    if mount -t tmpfs -o size=2m tmpfs "$disk" 2>/dev/null; then
        # shellcheck disable=SC2086
        "$BIN" generate "Hi" --model "$MODEL" --gen-length 128 --block-length 32 --steps 32 $mode --visualize-attention \
            --capture-heads all --capture-dtype f32 --out "$disk/run" -q >/dev/null 2>"$WORK/disk.err"
        rc=$?
        if [ "$rc" -ne 0 ]; then ok "$what exits non-zero ($rc)"; else bad "$what exit 0"; fi
        if grep -q "No space left on device" "$WORK/disk.err" && grep -q "step_0000" "$WORK/disk.err"; then
            ok "$what error names the file and reason"
        else
            bad "$what stderr: $(cat "$WORK/disk.err")"
        fi
        if check_incomplete "$disk/run/generation_with_attention.json" 1; then ok "$what leaves a readable incomplete run"; else bad "$what run"; fi
        umount "$disk"
    else
        # No permission to mount: a per-file size limit makes the same write fail with EFBIG.
        out="$WORK/fsize${mode// /}"
        # shellcheck disable=SC2086
        (ulimit -f 600; "$BIN" generate "Hi" --model "$MODEL" --gen-length 128 --block-length 32 --steps 32 $mode \
            --visualize-attention --capture-heads all --capture-dtype f32 --out "$out" -q >/dev/null 2>"$WORK/fsize.err")
        rc=$?
        if [ "$rc" -ne 0 ]; then ok "$what (file size limit) exits non-zero ($rc)"; else bad "$what (file size limit) exit 0"; fi
        if grep -q "File too large" "$WORK/fsize.err"; then ok "$what error names the reason"; else bad "fsize stderr: $(cat "$WORK/fsize.err")"; fi
        if check_incomplete "$out/generation_with_attention.json" 0; then ok "$what leaves a readable incomplete run"; else bad "$what run"; fi
    fi
}
full_disk ""
full_disk "--cache dual"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
