#!/usr/bin/env bash
# Full-size VGG16 conversion benchmark: vggconv keras2native against h5py+numpy->safetensors, in one
# run, alternating A B A B after a warm-up, outputs on /dev/shm (tmpfs) so disk writeback does not
# swamp the difference; `cp` of the same file is the floor (one read, one write).
# Prints per-run wall seconds and peak RSS (/usr/bin/time), then medians and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
VENV=${VENV:-.venv-samples}
WORK=${WORK:-/dev/shm/vggconv-bench}
mkdir -p "$WORK"
[ -x "$VENV/bin/python" ] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install -q -r samples/requirements.txt; }
"$VENV/bin/python" -c "import safetensors" 2>/dev/null || "$VENV/bin/pip" install -q safetensors==0.8.0
[ -x .build/release/vggconv ] || swift build -c release
[ -f "$WORK/vgg16_tfkeras_model.h5" ] || "$VENV/bin/python" scripts/make_vgg16_keras.py "$WORK"
IN="$WORK/vgg16_tfkeras_model.h5"
echo "input: $IN ($(stat -c %s "$IN") bytes); $(nproc) cores"

measure() {  # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/err.txt" || { cat "$WORK/err.txt"; exit 1; }
  read -r secs kib < "$WORK/time.txt"
  echo "$label $secs $kib" | tee -a "$WORK/results.txt"
}
rm -f "$WORK/results.txt"
ours=(.build/release/vggconv keras2native "$IN" -o "$WORK/out.vggw" --force)
ref=("$VENV/bin/python" scripts/reference_keras_to_safetensors.py "$IN" "$WORK/out.safetensors")
floor=(cp "$IN" "$WORK/copy.h5")
"${ours[@]}" >/dev/null; "${ref[@]}"; "${floor[@]}"   # warm-up: page cache, imports
for i in $(seq "$RUNS"); do
  measure vggconv "${ours[@]}"; measure python "${ref[@]}"; measure cp "${floor[@]}"
done
python3 - "$WORK/results.txt" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
med = {k: (st.median(float(r[1]) for r in rows if r[0] == k), max(int(r[2]) for r in rows if r[0] == k)) for k in ("vggconv", "python", "cp")}
for k, (t, m) in med.items():
    print(f"{k:8s} median {t:6.3f} s   peak RSS {m/1024:7.1f} MiB")
print(f"speed-up vggconv vs python: {med['python'][0]/med['vggconv'][0]:.2f}x;  vggconv / cp: {med['vggconv'][0]/med['cp'][0]:.2f}x")
PY
