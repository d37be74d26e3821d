# Sourced by the bench scripts: the build and preset-cache folders, a build of the named targets, and
# preset NAME, which writes a random checkpoint of that preset once (dlmscope-make-checkpoint) and
# prints its folder.
#
# Environment: BUILD_DIR (default build-bench), BENCH_CACHE (default $BUILD_DIR/bench-models), JOBS.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-bench}"
CACHE="${BENCH_CACHE:-$BUILD_DIR/bench-models}"
JOBS="${JOBS:-2}"

bench_build() {  # bench_build TARGET...
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS" --target "$@" >/dev/null
}

preset() {  # the index is written last: its presence marks a complete checkpoint
  local dir="$CACHE/mmada-$1"
  if [ ! -f "$dir/model.safetensors.index.json" ]; then
    "$BUILD_DIR/tools/dlmscope-make-checkpoint" --preset "$1" "$dir" >&2
  fi
  echo "$dir"
}
