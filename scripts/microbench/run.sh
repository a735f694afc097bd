#!/usr/bin/env bash
# Builds and runs the C micro-benchmarks in this folder against the engine's own kernels (Sources/CKernels).
set -euo pipefail
cd "$(dirname "$0")/../.."
CC=${CC:-$( [ -x /opt/swift/usr/bin/clang ] && echo /opt/swift/usr/bin/clang || echo clang)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$CC" -O2 -ISources/CKernels/include scripts/microbench/winograd_multiply_avx512.c Sources/CKernels/winograd43.c \
    Sources/CKernels/simd.c -o "$out/winograd_multiply_avx512"
taskset -c 0 "$out/winograd_multiply_avx512"
