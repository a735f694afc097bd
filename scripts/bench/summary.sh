#!/usr/bin/env bash
# `vggconv summary` of full-size VGG16 files (.h5 from tf-keras, .pth from torchvision) next to what
# users run today, in one run: Keras load_model(...).summary() and torchinfo.summary(...).
# Bars (product brief): median <= 50 ms and peak RSS <= 50 MiB, reading no tensor data.
# Wall time is taken with date's nanosecond clock around /usr/bin/time (which adds ~1 ms); RSS from
# /usr/bin/time.
RUNS=${RUNS:-21}
REF_RUNS=${REF_RUNS:-3}
source "$(dirname "$0")/common.sh"
need_python_package torchinfo torchinfo==1.8.0
rm -f "$WORK/summary.txt"

measure() {  # label, runs, command...
  local label=$1 runs=$2; shift 2
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$WORK/time.txt" "$@" >/dev/null 2>&1
    end=$(date +%s%N)
    echo "$label $(( (end - start) / 1000 )) $(cat "$WORK/time.txt")" >> "$WORK/summary.txt"
  done
}
"$BIN" summary "$WORK/vgg16_tfkeras_model.h5" >/dev/null   # warm the page cache
for _ in 1 2 3; do
  measure "vggconv-h5" $(( RUNS / 3 )) "$BIN" summary "$WORK/vgg16_tfkeras_model.h5"
  measure "vggconv-pth" $(( RUNS / 3 )) "$BIN" summary "$WORK/vgg16_torchvision.pth"
done
measure "keras-load_model" "$REF_RUNS" "$VENV/bin/python" scripts/reference/summary.py keras "$WORK/vgg16_tfkeras_model.h5"
measure "torchinfo" "$REF_RUNS" "$VENV/bin/python" scripts/reference/summary.py torchinfo "$WORK/vgg16_torchvision.pth"
python3 - "$WORK/summary.txt" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
for label in dict.fromkeys(r[0] for r in rows):
    times = [int(r[1]) / 1e6 for r in rows if r[0] == label]  # microseconds -> seconds
    rss = max(int(r[2]) for r in rows if r[0] == label)
    print(f"{label:18s} median {st.median(times)*1000:8.1f} ms  (min {min(times)*1000:.0f}, max {max(times)*1000:.0f}, n={len(times)})  peak RSS {rss/1024:7.1f} MiB")
PY
