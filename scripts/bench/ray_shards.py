#!/usr/bin/env python3
"""Overhead of the Ray driver (integrations/ray): `vggconv features` over 64 photos with full-size VGG16,
one process against a sharded run on a local Ray cluster using the same cores, alternating, medians.
The cluster's start-up is timed separately (it is paid once per cluster, not per run).
usage (in a venv with ray, e.g. .venv-ray):
    python scripts/bench/ray_shards.py .build/release/vggconv WORK [RUNS] [SHARDS]
WORK holds vgg16_torchvision.pth (scripts/generate/vgg16_torch.py); the photos are the samples' photos,
copied under 64 names (JPEG and PNG of different sizes)."""
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "integrations", "ray"))
import ray  # noqa: E402
import vggconv_ray  # noqa: E402

vggconv, work = os.path.abspath(sys.argv[1]), sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
shards = int(sys.argv[4]) if len(sys.argv) > 4 else 2
samples = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "samples", "images")
photos = os.path.join(work, "photos64")
shutil.rmtree(photos, ignore_errors=True)
os.makedirs(photos)
sources = sorted(f for f in os.listdir(samples) if f.lower().endswith((".jpg", ".jpeg", ".png")))
for i in range(64):
    name = sources[i % len(sources)]
    shutil.copyfile(os.path.join(samples, name), os.path.join(photos, f"{i:03d}_{name}"))
model = os.path.join(work, "vgg16.vggw")
if not os.path.exists(model):
    subprocess.run([vggconv, "torch2native", os.path.join(work, "vgg16_torchvision.pth"), "-o", model], check=True, stdout=subprocess.DEVNULL)

start = time.perf_counter()
ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
startup = time.perf_counter() - start
one, sharded = [], []
for _ in range(runs):
    start = time.perf_counter()
    subprocess.run([vggconv, "features", model, photos, "-o", os.path.join(work, "one.npy"), "--force"], check=True, stdout=subprocess.DEVNULL)
    one.append(time.perf_counter() - start)
    start = time.perf_counter()
    vggconv_ray.run("features", model, [photos], os.path.join(work, "ray.npy"), shards=shards, vggconv=vggconv)
    sharded.append(time.perf_counter() - start)
same = open(os.path.join(work, "one.npy"), "rb").read() == open(os.path.join(work, "ray.npy"), "rb").read()
print(f"{os.cpu_count()} cores; 64 photos, full-size VGG16 features; {runs} alternating runs; Ray {ray.__version__}, {shards} shards")
print(f"  ray cluster start-up      {startup:6.2f} s (once)")
print(f"  one process     median {statistics.median(one):6.2f} s   runs: " + " ".join(f"{t:.2f}" for t in one))
print(f"  ray, sharded    median {statistics.median(sharded):6.2f} s   runs: " + " ".join(f"{t:.2f}" for t in sharded))
print(f"  ratio ray / one process: {statistics.median(sharded) / statistics.median(one):.2f}x; outputs byte-identical: {same}")
for name in ("one.npy", "ray.npy"):
    os.remove(os.path.join(work, name))
shutil.rmtree(photos)
