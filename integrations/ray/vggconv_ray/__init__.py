"""Run vggconv's image commands over a Ray cluster: one Ray task per shard, each invoking the vggconv binary
every node has, then `vggconv merge`. Ray schedules, retries failed tasks and reports progress; this module
only says which shard each task is (`--shard K/N`) and where its part goes.

    import ray, vggconv_ray
    ray.init()                      # or ray.init(address="auto") on a cluster
    vggconv_ray.run("features", "vgg16.pth", ["/shared/photos"], "/shared/features.npy", shards=16)

Paths are those of shared storage, the same on every node. The merged output is byte-identical to one
`vggconv features vgg16.pth /shared/photos -o /shared/features.npy`.
"""
import os
import shutil
import subprocess

import ray

__all__ = ["run", "COMMANDS"]

#: The commands that shard, and the file each part is written to.
COMMANDS = {"features": ".npy", "predict": ".json", "evaluate": ".json"}


@ray.remote(max_retries=3, retry_exceptions=True)
def _shard(vggconv, command, model, inputs, options, index, count, part):
    """One shard: `vggconv COMMAND ... --shard index/count`, its part written to `part` (through a temporary
    name, so that a retried task never sees a half-written part)."""
    temporary = f"{part}.tmp-{os.getpid()}"
    arguments = [vggconv, command, model, *inputs, *options, "--shard", f"{index}/{count}"]
    if command == "features":
        subprocess.run(arguments + ["-o", temporary, "--force"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.replace(temporary + ".part.json", part + ".part.json")
        os.replace(temporary, part)
    else:
        with open(temporary, "wb") as out:
            subprocess.run(arguments + ["--json"], check=True, stdout=out, stderr=subprocess.PIPE)
        os.replace(temporary, part)
    return part


def run(command, model, inputs, output, shards, vggconv="vggconv", options=(), work=None, progress=None):
    """Runs `vggconv COMMAND MODEL INPUTS... OPTIONS...` as `shards` Ray tasks and merges their parts into
    `output` (a .npy for features, JSON for predict and evaluate). `work` is the folder for the parts (default
    OUTPUT.parts, removed after the merge); `progress(done, total)` is called as shards finish.
    Raises subprocess.CalledProcessError (with vggconv's message in .stderr) when a shard fails for good."""
    if command not in COMMANDS:
        raise ValueError(f"command must be one of {sorted(COMMANDS)}")
    work = work or output + ".parts"
    os.makedirs(work, exist_ok=True)
    parts = [os.path.join(work, f"part-{k:05d}{COMMANDS[command]}") for k in range(shards)]
    pending = [_shard.remote(vggconv, command, model, list(inputs), list(options), k, shards, parts[k]) for k in range(shards)]
    finished = 0
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        ray.get(ready)  # raises the task's error once Ray's retries are spent
        finished += len(ready)
        if progress:
            progress(finished, shards)
    subprocess.run([vggconv, "merge", *parts, "-o", output, "--force"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    shutil.rmtree(work, ignore_errors=True)
    return output
