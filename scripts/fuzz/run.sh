#!/usr/bin/env bash
# Builds the libFuzzer harnesses (Fuzz/, with -sanitize=fuzzer,address) and runs each for a set time
# or a set number of executions, seeded from samples/. `make fuzz` calls this.
#   FUZZ_SECONDS=60   seconds per harness (default), or
#   FUZZ_RUNS=1000000 executions per harness (overrides FUZZ_SECONDS)
#   FUZZ_LIMIT_<harness>="-max_total_time=600"   a libFuzzer limit for one harness (overrides both)
#   FUZZ_TARGETS="pickle zip vggw npy json hdf5 safetensors image labels onnx"   which harnesses
#   FUZZ_JOBS=2       harnesses run side by side
# Corpora grow in .fuzz/corpus/<harness>; crashes, leaks and timeouts land in .fuzz/crashes/<harness>
# (reproduce one: VGGCONV_FUZZ_TARGET=<harness> .build-fuzz/release/VGGConvFuzz FILE) and turn the
# exit status non-zero. A summary line per harness gives executions, edges, features and corpus size.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"
TARGETS=${FUZZ_TARGETS:-"pickle zip vggw npy json hdf5 safetensors image labels onnx"}
JOBS=${FUZZ_JOBS:-2}
BIN=.build-fuzz/release/VGGConvFuzz

# The fuzz package depends on the main one by path, and SwiftPM keeps its build plan when files are added
# to or removed from the main package ("missing inputs" until .build-fuzz is deleted): drop the plan so
# it is made again (well under a second when nothing changed).
rm -f .build-fuzz/release.yaml
# A fuzzer still running from this binary symbolizes its crash reports from the file on disk: rebuilt
# under it, the child's reports lose their interceptor frames and a contained libhdf5 error reads as
# vggconv's own (a false finding, 2026-12-05). Stop running fuzzers first.
if pgrep -f "$BIN" >/dev/null; then
  echo "fuzzers are running from $BIN (pgrep -af VGGConvFuzz); stop them first: pkill -INT -f VGGConvFuzz" >&2
  exit 2
fi
(cd Fuzz && swift build -c release --build-path ../.build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address -Xswiftc -use-ld=lld)
[ -x .build/release/vggconv ] || swift build -c release --product vggconv

# Seeds: real files from samples/ (the pickle harness gets the data.pkl records of the .pth samples).
seed() {
  local target=$1 dir=.fuzz/corpus/$1
  mkdir -p "$dir" ".fuzz/crashes/$target"
  [ -n "$(ls -A "$dir")" ] && return 0
  case $target in
    pickle) python3 - "$dir" <<'EOF'
import glob, os, sys, zipfile
for path in glob.glob("samples/*.pth") + glob.glob("samples/torch/*.pth") + glob.glob("samples/hostile/*.pth"):
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.endswith("data.pkl"):
                    open(os.path.join(sys.argv[1], os.path.basename(path) + ".pkl"), "wb").write(z.read(name))
EOF
      ;;
    zip) cp samples/*.pth samples/torch/*.pth samples/*.keras "$dir"/ ;;
    vggw) for f in samples/vgg_small_tfkeras_model.h5 samples/vgg_bn_keras3.keras samples/vgg_notop.pth; do
            n=$(basename "$f"); .build/release/vggconv "$( [[ $f == *.pth ]] && echo torch2native || echo keras2native)" "$f" -o "$dir/$n.vggw" --force >/dev/null
          done ;;
    npy) cp samples/golden/vgg_small_input_nchw.npy samples/golden/vgg_bn_torch_logits.npy samples/expected/vgg_bn/fc1.weight.npy "$dir"/ ;;
    json) cp samples/*_config.json samples/transfer/*_config.json "$dir"/ ;;
    safetensors) cp samples/timm_vgg_small.safetensors "$dir"/
          for f in samples/vgg_small.pth samples/vgg_bn_keras3.keras; do
            .build/release/vggconv convert "$f" -o "$dir/$(basename "$f").safetensors" --force >/dev/null
          done
          rm -f "$dir"/*.py ;;
    image) cp samples/images/astronaut_q90.jpg samples/images/coffee_gray.png samples/images/coffee_palette.png \
             samples/images/chelsea_rgba.png samples/images/hubble_deep_field_small.jpg samples/images/variants/*.png \
             samples/hostile/jpeg_repeated_scans.jpg samples/hostile/jpeg_dimension_bomb.jpg samples/hostile/png_dimension_bomb.png "$dir"/ ;;
    labels) printf 'cat\ndog\n' > "$dir/two.txt"; printf 'tabby cat\r\ngolden retriever\r\n' > "$dir/crlf.txt"
            printf 'caf\xc3\xa9\nna\xc3\xafve\nend' > "$dir/utf8.txt"
            python3 -c "import sys; sys.stdout.write(''.join(f'class {i}\n' for i in range(1000)))" > "$dir/thousand.txt" ;;
    onnx) cp samples/onnx/vgg_bn_torch_opset7.onnx samples/onnx/vgg_small_torch_view_opset17.onnx \
             samples/onnx/vgg_bn_tf2onnx_opset13.onnx samples/onnx/tl_features_tf2onnx_opset13.onnx \
             samples/onnx/vgg_notop_torch_opset13.onnx samples/hostile/onnx_*.onnx "$dir"/ ;;
    hdf5) cp samples/vgg_notop_tfkeras_model.h5 samples/vgg_notop_keras3.weights.h5 samples/vgg_notop_keras1_style.h5 \
             samples/bn_variants_tfkeras_weights.h5 samples/vgg_notop_keras3.keras \
             samples/vgg_notop_tfkeras_model_h5py_chunked.h5 samples/vgg_notop_tfkeras_model_h5py_latest.h5 "$dir"/ ;;
  esac
}

run_one() {
  local target=$1 limit extra=()
  if [ -n "${FUZZ_RUNS:-}" ]; then limit="-runs=$FUZZ_RUNS"; else limit="-max_total_time=${FUZZ_SECONDS:-60}"; fi
  local override="FUZZ_LIMIT_$target"
  [ -n "${!override:-}" ] && limit=${!override}
  [ "$target" = pickle ] && extra+=(-dict=Fuzz/pickle.dict)
  # allow_user_segv_handler: the libhdf5 probe's child resets SIGSEGV to die quietly; without it ASan
  # keeps its handler there and libFuzzer's crash callback writes the child's expected crash as a finding.
  # exitcode=77: how the harness tells a sanitizer report in that child from libhdf5 refusing a file.
  # No allocation stacks and a smaller quarantine: recording a stack per malloc took a quarter of the
  # time of the allocation-heavy harnesses (vggw 444 → 666 executions/s). Out-of-bounds accesses,
  # use-after-free within the quarantine, crashes and leaks are still caught; replay a finding without
  # these options for its allocation stack.
  # allocator_may_return_null: an impossible malloc (libhdf5's metadata cache asked for 2^56 bytes on a
  # mutated file) returns NULL as glibc's does, instead of ASan aborting; vggconv's own allocations trap
  # on NULL in Swift, so they are still findings, and -malloc_limit_mb still catches large ones.
  # SWIFT_BACKTRACE: the harness aborts on purpose on a finding in the child; Swift's crash backtracer
  # then reads memory ASan calls wild and buries the finding under a second report.
  # The hdf5 harness forks twice per input and the kernel's copying and freeing of the parent's page
  # tables was most of its time: a 4 MB quarantine keeps the parent at ~96 instead of ~160 MB resident
  # (24-26 instead of 21-22 executions per second per process, 2026-12-05; libhdf5's global-heap code is
  # now most of the time). What the child runs is mostly libhdf5, which is not instrumented, so the
  # longer quarantine caught nothing more there.
  local quarantine=32
  [ "$target" = hdf5 ] && quarantine=4
  SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-allow_user_segv_handler=1:malloc_context_size=0:quarantine_size_mb=$quarantine:exitcode=77:allocator_may_return_null=1} LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan.supp:print_suppressions=0" \
      VGGCONV_FUZZ_TARGET=$target "$BIN" ".fuzz/corpus/$target" "$limit" -timeout=30 -rss_limit_mb=2560 \
      -max_len=262144 -print_final_stats=1 -artifact_prefix=".fuzz/crashes/$target/" "${extra[@]}" \
      > ".fuzz/$target.log" 2>&1
}

for target in $TARGETS; do seed "$target"; done
status=0
running=0
for target in $TARGETS; do
  run_one "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n || status=1; running=$((running - 1)); fi
done
while [ "$running" -gt 0 ]; do wait -n || status=1; running=$((running - 1)); done

printf '%-8s %12s %8s %8s %10s %s\n' harness executions edges features corpus findings
for target in $TARGETS; do
  log=.fuzz/$target.log
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  edges=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo "?")
  features=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo "?")
  corpus=$(ls ".fuzz/corpus/$target" | wc -l)
  # Findings are what the fuzzing process itself reported. The HDF5 harness's crash directory also
  # gathers inputs on which the libhdf5 probe's child crashed (the child inherits libFuzzer's handler and
  # writes them, silently); those are libhdf5 failures the probe turned into errors, not findings.
  findings=$(grep -c "Test unit written to" "$log" || true)
  printf '%-8s %12s %8s %8s %10s %s\n' "$target" "$runs" "$edges" "$features" "$corpus" "$findings"
  [ "$findings" = 0 ] || status=1
done
exit $status
