#!/usr/bin/env bash
# `vggconv diff` of full-size VGG16 (tf-keras .h5 vs the .pth vggconv converts it to, and vs torchvision's
# own, unrelated VGG16) beside `cat A B > /dev/null` from a warm page cache, alternating, in one run.
# Prints wall seconds and peak RSS per run, then medians and the ratio.
RUNS=${RUNS:-5}
source "$(dirname "$0")/common.sh"
A="$WORK/vgg16_tfkeras_model.h5"; TWIN="$WORK/vgg16_twin.pth"; OTHER="$WORK/vgg16_torchvision.pth"
[ -f "$TWIN" ] || "$BIN" convert "$A" -o "$TWIN" >/dev/null 2>&1
echo "$(nproc) cores; $RUNS runs each"
for B in "$TWIN" "$OTHER"; do
  cat "$A" "$B" > /dev/null
  rm -f "$WORK/results.txt"
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "diff %e %M" -a -o "$WORK/results.txt" "$BIN" diff "$A" "$B" >/dev/null || true
    /usr/bin/time -f "cat %e %M" -a -o "$WORK/results.txt" sh -c "cat '$A' '$B' > /dev/null"
  done
  echo "== diff $(basename "$A") $(basename "$B") ($(( $(stat -c %s "$A") + $(stat -c %s "$B") )) bytes together)"
  python3 - "$WORK/results.txt" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1]) if l.split() and l.split()[0] in ("diff", "cat")]
med = {k: (st.median(float(r[1]) for r in rows if r[0] == k), max(int(r[2]) for r in rows if r[0] == k)) for k in ("diff", "cat")}
for k, (t, m) in med.items():
    print(f"  {k:5s} median {t:6.3f} s   peak RSS {m/1024:7.1f} MiB   runs: {' '.join(r[1] for r in rows if r[0] == k)}")
print(f"  diff / cat: {med['diff'][0]/med['cat'][0]:.2f}x")
PY
done
