"""Run aisec jobs on a Ray cluster: one `aisec ... --shard I/N` per Ray task, retried when a
worker dies or the command fails, and `aisec report merge` at the end."""

from .driver import main, run_job, shard_commands

__all__ = ["main", "run_job", "shard_commands"]
