#!/usr/bin/env bash
# Configures and builds dlmscope into build/ (Release). Extra arguments go to cmake's configure step.
# TARGETS (space-separated) builds only those targets, e.g. TARGETS=dlmscope for the CLI alone.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD_DIR" -j "$JOBS" ${TARGETS:+--target $TARGETS}
