#!/usr/bin/env bash
# Full-size VGG16 conversion benchmark, in one run on one machine:
#   keras2native (tf-keras VGG16 .h5)       vs  h5py + numpy -> safetensors
#   torch2native (torchvision VGG16 .pth)   vs  torch.load + safetensors
#   convert .h5 -> .pth / .safetensors / .onnx (exports) vs torch.load+torch.save, safetensors.torch.save_file,
#   torch.onnx.export of the same torchvision model (EXPORTS=0 skips them)
#   convert .pth -> Keras .h5 / .weights.h5 / .keras vs torch.load + keras.applications.VGG16 + set_weights
#   + save (KERAS=0 skips them); SECTIONS=exports or SECTIONS=keras runs only those
#   convert .onnx (torch.onnx.export of the same VGG16) -> .vggw vs onnx.load + numpy -> safetensors
#   (ONNX=0 skips it; SECTIONS=onnx runs only it)
# Each run of the three alternates after a warm-up (vggconv, cp, then the Python path, after a pause); outputs go to /dev/shm (tmpfs) so disk writeback does
# not swamp the difference; `cp` of the same input is the floor (one read, one write). Prints wall
# seconds and peak RSS (/usr/bin/time) per run, then medians and ratios.
RUNS=${RUNS:-5}
source "$(dirname "$0")/common.sh"
need_python_package safetensors safetensors==0.8.0
echo "$(nproc) cores; $RUNS runs per tool"

measure() {  # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/err.txt" || { cat "$WORK/err.txt"; exit 1; }
  read -r secs kib < "$WORK/time.txt"
  echo "$label $secs $kib" >> "$WORK/results.txt"
}

compare() {  # title, input, our subcommand, reference route (scripts/reference/convert.py)[, our output extension]
  local title=$1 in=$2 sub=$3 route=$4 ext=${5:-vggw}
  local ours=("$BIN" "$sub" "$in" -o "$WORK/out.$ext" --force)
  local theirs=("$VENV/bin/python" scripts/reference/convert.py "$route" "$in" "$WORK/ref.$ext")
  local floor=(cp "$in" "$WORK/copy.bin")
  rm -f "$WORK/results.txt"
  "${ours[@]}" >/dev/null; "${theirs[@]}" >/dev/null 2>&1; "${floor[@]}"   # warm-up
  # cp runs right after vggconv, and both after a pause: the Python path leaves a multi-GB process's
  # memory to be reclaimed, which slowed whichever command came next (cp 0.33 s quiet, 0.42-0.56 s then).
  for _ in $(seq "$RUNS"); do
    sleep "${SETTLE:-2}"; measure vggconv "${ours[@]}"; measure cp "${floor[@]}"; measure python "${theirs[@]}"
  done
  echo "== $title: $in ($(stat -c %s "$in") bytes)"
  python3 - "$WORK/results.txt" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
med = {k: (st.median(float(r[1]) for r in rows if r[0] == k), max(int(r[2]) for r in rows if r[0] == k)) for k in ("vggconv", "python", "cp")}
for k, (t, m) in med.items():
    runs = " ".join(r[1] for r in rows if r[0] == k)
    print(f"  {k:8s} median {t:6.3f} s   peak RSS {m/1024:7.1f} MiB   runs: {runs}")
print(f"  speed-up vggconv vs python: {med['python'][0]/med['vggconv'][0]:.2f}x;  vggconv / cp: {med['vggconv'][0]/med['cp'][0]:.2f}x")
PY
}

SECTIONS=${SECTIONS:-all}
if [ "$SECTIONS" = all ]; then
  compare "keras2native vs h5py+numpy->safetensors" "$WORK/vgg16_tfkeras_model.h5" keras2native keras-h5py
  compare "torch2native vs torch.load->safetensors" "$WORK/vgg16_torchvision.pth" torch2native torch-load
fi
if [ "${EXPORTS:-1}" = 1 ] && [[ "$SECTIONS" =~ ^(all|exports)$ ]]; then
  need_python_package onnx onnx==1.23.2
  compare "convert .h5 -> .pth vs torch.load + torch.save" "$WORK/vgg16_tfkeras_model.h5" convert torch-export pth
  compare "convert .h5 -> .safetensors vs safetensors.torch.save_file" "$WORK/vgg16_tfkeras_model.h5" convert torch-export safetensors
  compare "convert .h5 -> .onnx vs torch.onnx.export" "$WORK/vgg16_tfkeras_model.h5" convert torch-export onnx
fi
if [ "${KERAS:-1}" = 1 ] && [[ "$SECTIONS" =~ ^(all|keras)$ ]]; then
  compare "convert .pth -> .h5 (full model) vs tf-keras VGG16 + set_weights + save" "$WORK/vgg16_torchvision.pth" convert keras-export h5
  compare "convert .pth -> .weights.h5 vs Keras 3 VGG16 + set_weights + save_weights" "$WORK/vgg16_torchvision.pth" convert keras-export weights.h5
  compare "convert .pth -> .keras vs Keras 3 VGG16 + set_weights + save" "$WORK/vgg16_torchvision.pth" convert keras-export keras
fi
if [ "${ONNX:-1}" = 1 ] && [[ "$SECTIONS" =~ ^(all|onnx)$ ]]; then
  need_python_package onnx onnx==1.23.2
  [ -f "$WORK/vgg16_torch.onnx" ] || "$VENV/bin/python" scripts/generate/vgg16_onnx_variants.py "$WORK" >/dev/null 2>&1
  compare "convert .onnx -> .vggw vs onnx.load + numpy -> safetensors" "$WORK/vgg16_torch.onnx" convert onnx-numpy vggw
fi
