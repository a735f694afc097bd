#!/usr/bin/env python3
"""Per-layer times of two vggconv builds side by side: `bench --layers --json`, alternating the builds for
ROUNDS rounds, the median of each step's medians. Steps are matched by the first layer they cover, so a
convolution that absorbed its pool in one build lines up with the separate conv + pool of the other (the
pool's time is added to its convolution's row).
usage: layers_ab.py BEFORE_BIN AFTER_BIN MODEL.vggw [BATCH] [ROUNDS]"""
import json
import statistics
import subprocess
import sys

before, after, model = sys.argv[1:4]
batch = int(sys.argv[4]) if len(sys.argv) > 4 else 8
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3


def steps(binary):
    out = subprocess.run([binary, "bench", model, "--batch", str(batch), "--iterations", "3", "--layers", "--json"],
                         check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    rows, last_conv = {}, None
    for step in report["steps"]:
        names = step["label"].split(" ")[0].split("+")
        key = names[0]
        if key.endswith("_pool") and last_conv:  # a separate pool: counted with the convolution before it
            key = last_conv
        elif "conv" in key:
            last_conv = key
        rows[key] = rows.get(key, 0.0) + step["median_ms"]
    return rows, report["median_ms"], report["kernels"]


results = {before: [], after: []}
for _ in range(rounds):
    for binary in (before, after):
        results[binary].append(steps(binary))
kernels = results[after][0][2]
print(f"batch {batch}, {rounds} alternating rounds, {kernels} kernels; ms (median over rounds)")
print(f"{'step':28s} {'before':>9s} {'after':>9s} {'change':>8s}")
for key in results[before][0][0]:
    b = statistics.median(r[0].get(key, 0.0) for r in results[before])
    a = statistics.median(r[0].get(key, 0.0) for r in results[after])
    print(f"{key:28s} {b:9.1f} {a:9.1f} {100 * (a - b) / b:+7.1f}%")
b = statistics.median(r[1] for r in results[before])
a = statistics.median(r[1] for r in results[after])
print(f"{'whole pass':28s} {b:9.1f} {a:9.1f} {100 * (a - b) / b:+7.1f}%")
