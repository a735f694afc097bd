#!/usr/bin/env bash
# Builds and runs the C micro-benchmarks in this folder: the Winograd multiply against the engine's own kernel
# (Sources/CKernels), and the ways of filling an output file in tmpfs.
set -euo pipefail
cd "$(dirname "$0")/../../.."
CC=${CC:-$( [ -x /opt/swift/usr/bin/clang ] && echo /opt/swift/usr/bin/clang || echo clang)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$CC" -O2 -ISources/CKernels/include scripts/bench/micro/winograd_multiply_avx512.c Sources/CKernels/winograd43.c \
    Sources/CKernels/simd.c -o "$out/winograd_multiply_avx512"
"$CC" -O2 scripts/bench/micro/output_writes.c -lpthread -o "$out/output_writes"
echo "== Winograd multiply stage, one core (docs/inference.md)"
taskset -c 0 "$out/winograd_multiply_avx512"
echo "== filling a 560 MiB tmpfs file (docs/conversion.md)"
"$out/output_writes"
