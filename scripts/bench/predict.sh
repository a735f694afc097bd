#!/usr/bin/env bash
# `vggconv predict` of 64 photos with full-size VGG16 (torchvision weights) beside PIL + torchvision
# transforms + ONNX Runtime doing the same (decode, resize, crop, normalise, run, softmax, top-5), both
# timed end to end (start-up included), alternating; then `vggconv features` peak RSS on 10 and 200 photos.
RUNS=${RUNS:-3}
source "$(dirname "$0")/common.sh"
need_python_package onnxruntime onnxruntime==1.32.0
PHOTOS="$WORK/photos64"; MANY="$WORK/photos200"; FEW="$WORK/photos10"
mkdir -p "$PHOTOS" "$MANY" "$FEW"
images=(samples/images/*.jpg samples/images/*.png)
for i in $(seq 0 199); do
  src=${images[$((i % ${#images[@]}))]}; ext=${src##*.}
  [ "$i" -lt 64 ] && cp -n "$src" "$PHOTOS/$(printf %03d "$i").$ext"
  [ "$i" -lt 10 ] && cp -n "$src" "$FEW/$(printf %03d "$i").$ext"
  cp -n "$src" "$MANY/$(printf %03d "$i").$ext"
done
[ -f "$WORK/vgg16.vggw" ] || "$BIN" convert "$WORK/vgg16_torchvision.pth" -o "$WORK/vgg16.vggw" >/dev/null 2>&1
[ -f "$WORK/vgg16.onnx" ] || "$BIN" convert "$WORK/vgg16_torchvision.pth" -o "$WORK/vgg16.onnx" >/dev/null 2>&1
lscpu | sed -nE 's/^Model name: +/CPU: /p'
echo "$(nproc) cores; 64 photos; $RUNS runs each. The Python script times itself from after its imports;"
echo "'whole process' times it as vggconv is timed, from the command's start (interpreter and imports included)."
for _ in $(seq "$RUNS"); do
  s=$(date +%s.%N); "$BIN" predict "$WORK/vgg16.vggw" "$PHOTOS" > /dev/null; e=$(date +%s.%N)
  ours=$(python3 -c "print(f'{64 / ($e - $s):.2f}')")
  s=$(date +%s.%N); theirs=$("$VENV/bin/python" scripts/reference/predict.py "$WORK/vgg16.onnx" "$PHOTOS"); e=$(date +%s.%N)
  python3 -c "
ours, theirs, whole = $ours, float('${theirs%% *}'), 64 / ($e - $s)
print(f'vggconv predict: {ours:.2f} images/s | PIL + ONNX Runtime: {theirs:.2f} images/s after imports, {whole:.2f} whole process'
      f' | ratio {ours / theirs:.2f}x ({ours / whole:.2f}x whole process)')"
done
for dir in "$FEW" "$MANY"; do
  /usr/bin/time -f "features of $(ls "$dir" | wc -l) photos: %e s, peak RSS %M KB" "$BIN" features "$WORK/vgg16.vggw" "$dir" -o "$WORK/features.npy" --force > /dev/null
done
