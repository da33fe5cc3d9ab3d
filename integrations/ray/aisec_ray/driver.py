"""The Ray driver: cut an aisec job into N shards, run each shard's command as a Ray task,
retry the ones that fail, report progress as they finish, and merge the results.

The work itself is aisec's: every task runs the `aisec` binary with `--shard I/N`, which
decides deterministically what shard I is (the same files, plan steps or shadow models in every
attempt, on every machine), writes one result file, and replaces only its own on a retry.
`aisec report merge` then checks that the N results are one whole job and writes the report
one process would have written. The driver adds only scheduling: the CPU and memory each task
declares, retries, and progress.

Every path (the aisec binary, the inputs, the results folder) must be reachable under the same
name from every node: a shared file system (NFS, a mounted bucket) on a real cluster, one
folder on a one-machine cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

#: Test hook: the first attempt of this shard (1-based) kills its aisec process and then its
#: own Ray worker mid-run, as a node failure would; Ray must run the task again.
KILL_ENV = "AISEC_RAY_KILL_FIRST_ATTEMPT_OF"


def is_url(path: str) -> bool:
    return path.startswith("s3://")


def join(work: str, name: str) -> str:
    """`work/name` for a folder or an s3:// prefix."""
    return work.rstrip("/") + "/" + name if is_url(work) else str(Path(work) / name)


def shard_commands(job: str, aisec: str, count: int, args: argparse.Namespace) -> list[list[str]]:
    """The command of every shard, 1 to `count`."""
    out = []
    for i in range(1, count + 1):
        shard = f"{i}/{count}"
        if job == "scan":
            cmd = [aisec, "scan", *args.paths, "--shard", shard, "--out",
                   join(args.work, f"scan-shard-{i}-of-{count}.json")]
            cmd += args.aisec_args
        elif job == "assess":
            cmd = [aisec, "assess", args.plan, "--out", args.work, "--shard", shard]
            cmd += args.aisec_args
        elif job == "membership":
            cmd = [aisec, "attack", "membership", *args.aisec_args,
                   "--shadow-dir", args.work, "--shard", shard]
        else:
            raise ValueError(f"unknown job {job!r}")
        out.append(cmd)
    return out


def result_files(job: str, work: str, count: int) -> list[str]:
    if job == "scan":
        return [join(work, f"scan-shard-{i}-of-{count}.json") for i in range(1, count + 1)]
    return [join(work, f"shard-{i}-of-{count}.json") for i in range(1, count + 1)]


def _run_shard(index: int, cmd: list[str], attempts_dir: str, env: dict, cwd: str) -> dict:
    """One shard, inside a Ray worker: runs the command, raises when it fails (so Ray
    retries), and returns what happened."""
    import socket

    marker = Path(attempts_dir) / f"shard-{index}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    with open(marker, "a") as f:
        f.write(f"{socket.gethostname()} {os.getpid()} {time.time()}\n")
    attempt = sum(1 for line in marker.read_text().splitlines() if not line.startswith("killed"))
    started = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **env}, text=True, cwd=cwd)
    if env.get(KILL_ENV) == str(index) and attempt == 1:
        # Mid-run: aisec has started and not finished; kill it, then this worker without a
        # word, as a lost node would.
        if proc.poll() is None:
            proc.kill()
            with open(marker, "a") as f:
                f.write("killed mid-run\n")
        os.kill(os.getpid(), signal.SIGKILL)
    stdout, stderr = proc.communicate()
    seconds = time.time() - started
    if proc.returncode != 0:
        raise RuntimeError(
            f"shard {index}: `{' '.join(cmd)}` exited {proc.returncode}: {stderr.strip()[-2000:]}")
    return {"shard": index, "attempt": attempt, "host": socket.gethostname(),
            "seconds": seconds, "stdout": stdout.strip()}


def run_job(job: str, args: argparse.Namespace) -> int:
    import ray

    aisec = str(Path(args.aisec).resolve()) if os.sep in args.aisec else args.aisec
    Path(args.out).mkdir(parents=True, exist_ok=True)
    # Attempts are counted in a folder every node reaches: the work folder, or, when the
    # results go to object storage, the --attempts folder (default: beside the report).
    if is_url(args.work):
        attempts_dir = args.attempts or str(Path(args.out) / ".attempts")
    else:
        Path(args.work).mkdir(parents=True, exist_ok=True)
        attempts_dir = args.attempts or str(Path(args.work) / ".attempts")
    # This run's attempts only: counts left by an earlier run of the same job start again.
    for old in Path(attempts_dir).glob("shard-*"):
        old.unlink()
    commands = shard_commands(job, aisec, args.shards, args)
    # The workers get this package from the driver (they may not have it installed).
    ray.init(address=args.address, logging_level="ERROR", log_to_driver=False,
             runtime_env={"py_modules": [str(Path(__file__).resolve().parent)]})
    task = ray.remote(_run_shard).options(
        num_cpus=args.cpus_per_task,
        memory=int(args.memory_per_task * 1024 * 1024) if args.memory_per_task else None,
        max_retries=args.max_retries,
        retry_exceptions=True,
    )
    # The knowledge base, the test hook, and the object-storage connection (see aisec's
    # README: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT …).
    env = {k: v for k, v in os.environ.items()
           if k in ("AISEC_ATLAS_DATA", KILL_ENV) or k.startswith("AWS_")}
    started = time.time()
    pending = {task.remote(i + 1, cmd, attempts_dir, env, os.getcwd()): i + 1 for i, cmd in enumerate(commands)}
    done: list[dict] = []
    failed: list[str] = []
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        ref = ready[0]
        index = pending.pop(ref)
        try:
            r = ray.get(ref)
            done.append(r)
            print(f"[{len(done)}/{args.shards}] shard {index}/{args.shards} done in {r['seconds']:.1f} s "
                  f"on {r['host']} (attempt {r['attempt']})", file=sys.stderr, flush=True)
        except Exception as e:  # a task that failed every retry
            failed.append(f"shard {index}/{args.shards}: {str(e).strip().splitlines()[-1]}")
            print(f"shard {index}/{args.shards} failed after {args.max_retries + 1} attempts: {e}",
                  file=sys.stderr, flush=True)
    ray.shutdown()
    wall = time.time() - started
    summary = {
        "job": job,
        "shards": args.shards,
        "wall_seconds": wall,
        "retried": sorted(r["shard"] for r in done if r["attempt"] > 1),
        "attempts": {str(r["shard"]): r["attempt"] for r in done},
        "shard_seconds": {str(r["shard"]): r["seconds"] for r in done},
        "failed": failed,
    }
    Path(args.out, "ray-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if failed:
        print("not merged: " + "; ".join(failed), file=sys.stderr)
        return 2
    merge = [aisec, "report", "merge", *result_files(job, args.work, args.shards), "--out", args.out]
    print(f"merging: {' '.join(merge)}", file=sys.stderr, flush=True)
    return subprocess.call(merge)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aisec-ray",
        description="Run an aisec job as N Ray tasks (one `--shard I/N` each) and merge the results. "
                    "Flags after `--` go to the aisec command itself.",
        epilog="Exit code: aisec report merge's (the job's own), or 2 when a shard failed every attempt.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--shards", type=int, required=True, help="N: how many shards (tasks)")
    common.add_argument("--work", required=True,
                        help="a folder every node reaches: shard results (and, for membership, the shadow models); "
                             "for scan also an s3:// prefix")
    common.add_argument("--attempts", default=None,
                        help="a folder every node reaches where attempts are counted (default: WORK/.attempts, "
                             "or OUT/.attempts when WORK is an s3:// prefix)")
    common.add_argument("--out", required=True, help="the folder for the merged report")
    common.add_argument("--aisec", default="aisec", help="the aisec binary, at a path every node reaches")
    common.add_argument("--address", default="auto", help="the Ray cluster (default: auto, the running one)")
    common.add_argument("--cpus-per-task", type=float, default=1.0, help="CPUs each task declares (default 1)")
    common.add_argument("--memory-per-task", type=float, default=0,
                        help="MiB of memory each task declares (default: none declared)")
    common.add_argument("--max-retries", type=int, default=3,
                        help="attempts after the first when a task fails or its worker dies (default 3)")
    sub = p.add_subparsers(dest="job", required=True)
    scan = sub.add_parser("scan", parents=[common], help="aisec scan PATHS, sharded by file")
    scan.add_argument("paths", nargs="+")
    assess = sub.add_parser("assess", parents=[common], help="aisec assess PLAN, sharded by step")
    assess.add_argument("plan")
    mia = sub.add_parser("membership", parents=[common],
                         help="aisec attack membership, its shadow models trained in shards")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after `--` goes to aisec as it is: scan and assess flags, or the
    # membership attack's own (--dataset …, --attack lira …).
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = parser().parse_args(argv)
    args.aisec_args = extra
    if args.job == "membership" and not extra:
        print("membership: give the attack's flags after --, e.g. -- --dataset purchase-synthetic --attack lira",
              file=sys.stderr)
        return 2
    if args.shards < 1:
        print(f"--shards {args.shards}: expected at least 1", file=sys.stderr)
        return 2
    if args.max_retries < 0:
        print(f"--max-retries {args.max_retries}: expected 0 or more", file=sys.stderr)
        return 2
    if args.job == "scan":
        args.paths = [p if is_url(p) else str(Path(p).resolve()) for p in args.paths]
    elif is_url(args.work):
        print(f"--work {args.work}: {args.job} needs a shared folder (its shards write step logs or shadow models); "
              "only scan results go to object storage", file=sys.stderr)
        return 2
    if args.job == "assess":
        args.plan = str(Path(args.plan).resolve())
    if not is_url(args.work):
        args.work = str(Path(args.work).resolve())
    if is_url(args.out):
        print(f"--out {args.out}: the merged report is written to a local folder", file=sys.stderr)
        return 2
    found = shutil.which(args.aisec) if os.sep not in args.aisec else (
        args.aisec if os.access(args.aisec, os.X_OK) else None)
    if not found:
        # Every attempt of every task would fail the same way.
        print(f"--aisec {args.aisec}: no such executable here (give a path every node reaches)", file=sys.stderr)
        return 2
    args.out = str(Path(args.out).resolve())
    return run_job(args.job, args)


if __name__ == "__main__":
    raise SystemExit(main())
