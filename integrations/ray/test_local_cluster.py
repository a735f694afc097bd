"""The Ray driver on a local cluster: `features` and `evaluate` over the sample photos in 4 shards give
byte-identical outputs to one vggconv process, on a one-node cluster (ray.init(num_cpus=2)) and on two
simulated nodes (ray.cluster_utils.Cluster), and when a worker is killed in the middle of a task (Ray
retries it). Run by `make test`:  VGGCONV=.build/debug/vggconv .venv-ray/bin/python -m unittest ...
"""
import os
import subprocess
import sys
import tempfile
import unittest

import ray
from ray.cluster_utils import Cluster

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vggconv_ray  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VGGCONV = os.path.abspath(os.environ.get("VGGCONV", os.path.join(ROOT, ".build", "debug", "vggconv")))
MODEL = os.path.join(ROOT, "samples", "vgg_small.pth")
PHOTOS = os.path.join(ROOT, "samples", "images")
CLASSIFIER = os.path.join(ROOT, "samples", "transfer", "tl_gap_keras3.keras")
FOLDER = os.path.join(ROOT, "samples", "transfer", "eval")


def read(path):
    with open(path, "rb") as f:
        return f.read()


class LocalClusterTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="vggconv-ray-")
        cls.features = os.path.join(cls.work, "one.npy")
        subprocess.run([VGGCONV, "features", MODEL, PHOTOS, "-o", cls.features], check=True, stdout=subprocess.DEVNULL)
        cls.report = subprocess.run([VGGCONV, "evaluate", CLASSIFIER, FOLDER, "--json"], check=True, capture_output=True).stdout

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["rm", "-rf", cls.work])

    def tearDown(self):
        ray.shutdown()

    def run_both(self, tag, vggconv=VGGCONV):
        features = os.path.join(self.work, f"{tag}.npy")
        seen = []
        vggconv_ray.run("features", MODEL, [PHOTOS], features, shards=4, vggconv=vggconv, progress=lambda d, t: seen.append((d, t)))
        self.assertEqual(read(features), read(self.features), f"{tag}: features differ from one process's")
        self.assertEqual(seen[-1], (4, 4))
        report = os.path.join(self.work, f"{tag}.json")
        vggconv_ray.run("evaluate", CLASSIFIER, [FOLDER], report, shards=4, vggconv=vggconv)
        self.assertEqual(read(report).rstrip(b"\n"), self.report.rstrip(b"\n"), f"{tag}: evaluate differs from one process's")

    def test_one_node(self):
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        self.run_both("one-node")

    def test_two_simulated_nodes(self):
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        cluster.add_node(num_cpus=1)
        try:
            ray.init(address=cluster.address, log_to_driver=False)
            self.assertEqual(len([n for n in ray.nodes() if n["Alive"]]), 2)
            self.run_both("two-nodes")
        finally:
            ray.shutdown()
            cluster.shutdown()

    def test_killed_worker_is_retried(self):
        """A stand-in for the binary that, the first time shard 1 runs, kills the Ray worker running the
        task (its parent) before doing any work; Ray retries the task on a new worker."""
        marker = os.path.join(self.work, "killed-once")
        wrapper = os.path.join(self.work, "vggconv-killing-once")
        with open(wrapper, "w") as f:
            f.write(f"""#!/bin/sh
case "$*" in *"--shard 1/4"*) if [ ! -e {marker} ]; then touch {marker}; kill -9 $PPID; sleep 30; fi ;; esac
exec {VGGCONV} "$@"
""")
        os.chmod(wrapper, 0o755)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        self.run_both("killed", vggconv=wrapper)
        self.assertTrue(os.path.exists(marker), "the worker was never killed")


if __name__ == "__main__":
    unittest.main()
