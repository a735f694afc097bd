#!/usr/bin/env bash
# VGG16 inference on this CPU, float32, batch 1 and 8, in one run: vggconv (torchvision weights converted
# by torch2native) next to PyTorch, ONNX Runtime and OpenVINO (installed from PyPI into the venv), with
# the machine's SGEMM GFLOP/s for context. Rounds alternate the tools; each prints the median of its
# timed passes, and the table reports the median over rounds. Also verifies vggconv's full-size outputs
# against PyTorch's and reports peak RSS.
#   TOOLS="onnxruntime torch openvino"  the reference runtimes to run (openvino is installed on demand)
#   KERNELS="best"                       vggconv's kernel variants, each its own row: best (chosen from
#                                        CPUID), avx2, generic (VGGCONV_SIMD; never above the CPU's)
ROUNDS=${ROUNDS:-3}
ITER=${ITER:-5}
TOOLS=${TOOLS:-onnxruntime torch openvino}
KERNELS=${KERNELS:-best}
source "$(dirname "$0")/common.sh"
need_python_package onnxruntime onnxruntime==1.32.0
need_python_package onnxscript onnx==1.23.2 onnxscript
case " $TOOLS " in *" openvino "*) need_python_package openvino openvino==2026.4.1 ;; esac
lscpu | sed -nE 's/^Model name: +/CPU: /p'
echo "flags: $(grep -m1 -oE 'avx512[a-z_0-9]*|avx2|fma|f16c' /proc/cpuinfo | sort -u | tr '\n' ' ')"
# The ONNX export and the 4-sample goldens (input and PyTorch's logits) come from one script.
[ -f "$WORK/vgg16.onnx" ] && [ -f "$WORK/vgg16_torch_logits.npy" ] || "$VENV/bin/python" scripts/generate/vgg16_onnx.py "$WORK/vgg16_torchvision.pth" "$WORK" >/dev/null 2>&1
"$BIN" torch2native "$WORK/vgg16_torchvision.pth" -o "$WORK/vgg16.vggw" --force >/dev/null

echo "== correctness at full size (4 samples, PyTorch logits)"
"$BIN" verify "$WORK/vgg16.vggw" --input "$WORK/vgg16_input_nchw.npy" --golden "$WORK/vgg16_torch_logits.npy"

echo "== SGEMM peak (numpy, 4096^3)"
"$VENV/bin/python" -c "
import numpy as np, time
a = np.random.rand(4096, 4096).astype('float32'); b = a.copy(); a @ b
t = min((lambda s: (a @ b, time.perf_counter() - s)[1])(time.perf_counter()) for _ in range(3))
print(f'{2 * 4096**3 / t / 1e9:.0f} GFLOP/s')"

rm -f "$WORK/inference.txt"
# Each tool runs after a pause (SETTLE seconds): a Python runtime that just exited leaves gigabytes of
# memory to reclaim, which slowed whichever process came next.
for round in $(seq "$ROUNDS"); do
  for batch in 1 8; do
    sleep "${SETTLE:-2}"
    for kernels in $KERNELS; do
      name=vggconv; [ "$kernels" = best ] || name=vggconv-$kernels
      line=$(VGGCONV_SIMD=$kernels "$BIN" bench "$WORK/vgg16.vggw" --batch "$batch" --iterations "$ITER")
      echo "$name $batch $(echo "$line" | sed -E 's/.*median: ([0-9.]+) ms.*/\1/')" >> "$WORK/inference.txt"
    done
    for tool in $TOOLS; do
      sleep "${SETTLE:-2}"
      "$VENV/bin/python" scripts/reference/inference.py "$tool" "$WORK/vgg16_torchvision.pth" "$WORK/vgg16.onnx" "$batch" "$ITER" 2>/dev/null \
        | awk '{print $1, $2, $3}' >> "$WORK/inference.txt"
    done
  done
done
/usr/bin/time -f "%M" -o "$WORK/rss.txt" "$BIN" bench "$WORK/vgg16.vggw" --batch 8 --iterations 1 >/dev/null
echo "== latency (median over $ROUNDS rounds of per-run medians of $ITER passes)"
python3 - "$WORK/inference.txt" "$(cat "$WORK/rss.txt")" "$(stat -c %s "$WORK/vgg16.vggw")" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for tool, batch, ms in rows:
    med.setdefault((tool, int(batch)), []).append(float(ms))
for batch in (1, 8):
    ort = st.median(med[("onnxruntime", batch)])
    tools = [t for t, b in med if b == batch]
    for tool in sorted(tools, key=lambda t: (not t.startswith("vggconv"), t)):
        m = st.median(med[(tool, batch)])
        print(f"batch {batch}  {tool:12s} {m:8.1f} ms  ({m / batch:6.1f} ms/image)  {m / ort:5.2f}x ONNX Runtime")
rss, size = int(sys.argv[2]) * 1024, int(sys.argv[3])
print(f"vggconv peak RSS at batch 8: {rss / 2**20:.0f} MiB = {rss / size:.2f}x the {size / 2**20:.0f} MiB weights file")
PY
