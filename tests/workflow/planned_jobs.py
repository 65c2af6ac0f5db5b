"""The jobs a config plans, as sorted (rule, output) pairs, and their comparison with another commit.

A restructuring must not change what the workflow does: the same configs must plan the same jobs
writing the same files. ``snakemake --summary`` lists every output file with the rule that makes
it, without running anything.

Run: .venv/bin/python tests/workflow/planned_jobs.py [--compare REV] [CONFIG ...]
(no CONFIG: the embedded default and every config/paper/*.yaml). With ``--compare``, REV is checked
out into a temporary worktree and both lists are printed as a diff; the exit status is 1 on any
difference.
"""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def planned_jobs(repo: Path, config: str | None = None) -> list[tuple[str, str]]:
    """Sorted (rule, output) pairs that ``config`` (a path relative to ``repo``; None: the
    embedded default) plans in a results-free copy of ``repo``."""
    command = [sys.executable, "-m", "snakemake", "--summary", "--cores", "1"]
    if config is not None:
        command += ["--configfile", config]
    with tempfile.TemporaryDirectory() as workdir:  # no results: every job is planned
        command += ["-s", str(repo / "workflow" / "Snakefile"), "--directory", workdir]
        (Path(workdir) / "config").symlink_to(repo / "config")
        result = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"snakemake --summary failed for {config or 'the default'}:\n{result.stderr}")
    rows = [line.split("\t") for line in result.stdout.splitlines()[1:] if "\t" in line]
    return sorted((row[2], row[0]) for row in rows)


def configs(repo: Path) -> list[str | None]:
    return [None, *(str(p.relative_to(repo)) for p in sorted((repo / "config" / "paper").glob("*.yaml")))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*")
    parser.add_argument("--compare", metavar="REV", help="compare with the jobs planned at this commit")
    args = parser.parse_args()
    chosen = args.configs or configs(REPO)
    if not args.compare:
        for config in chosen:
            for rule, output in planned_jobs(REPO, config):
                print(f"{config or 'default'}\t{rule}\t{output}")
        return 0
    different = False
    with tempfile.TemporaryDirectory() as folder:
        other = Path(folder) / "other"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(other), args.compare],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        try:
            for config in chosen:
                before = [f"{r}\t{o}" for r, o in planned_jobs(other, config)]
                after = [f"{r}\t{o}" for r, o in planned_jobs(REPO, config)]
                diff = list(difflib.unified_diff(before, after, args.compare, "working tree", lineterm=""))
                print(f"{config or 'default'}: {len(after)} outputs, {'same' if not diff else 'DIFFERENT'}")
                print("\n".join(diff[:200]))
                different |= bool(diff)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=REPO, check=True)
    return 1 if different else 0


if __name__ == "__main__":
    raise SystemExit(main())
