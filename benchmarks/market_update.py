"""How long `regiocrm market check` and `regiocrm market update` take, as a person runs them.

A Thai market is generated from a copy of the shipped template kept in a git repository,
committed, and the template gains a change (a README line, a new test). Then, each timed as
a whole command (a new Python process, as typed): `market check` (behind), and `market
update` with no conflict (the tree restored with git between runs). The references, timed
the same way in the same run: `regiocrm --help` (starting the command line: Python,
regiocrm and its plugins) and one render of the template by cookiecutter's own command
(hooks included); an update needs the first once and the second twice.

    python benchmarks/market_update.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from regiocrm.markets.scaffold import template

IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
REGIOCRM = [sys.executable, "-m", "regiocrm"]


def run(*command: str | Path, cwd: Path, ok: tuple[int, ...] = (0,)) -> float:
    """Run a command; its wall time in seconds."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - git and regiocrm, with arguments built here
        [str(part) for part in command],
        cwd=cwd,
        env={**os.environ, **IDENTITY},
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - started
    if done.returncode not in ok:
        sys.exit(f"{command}: exit {done.returncode}\n{done.stdout}{done.stderr}")
    return took


def commit_all(folder: Path, message: str) -> None:
    run("git", "add", "-A", cwd=folder)
    run("git", "commit", "--quiet", "-m", message, cwd=folder)


def median(times: list[float]) -> str:
    return f"{statistics.median(times):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (median)")
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        repository = scratch / "template"
        with template() as shipped:
            shutil.copytree(shipped, repository, ignore=shutil.ignore_patterns("__pycache__"))
        run("git", "init", "--quiet", cwd=repository)
        commit_all(repository, "A")
        run(
            *REGIOCRM,
            "new-market",
            "--no-input",
            "country_code=TH",
            "-o",
            scratch,
            "--template",
            repository,
            cwd=scratch,
        )
        market = scratch / "regiocrm-market-th"
        run("git", "init", "--quiet", cwd=market)
        commit_all(market, "Thailand")
        readme = repository / "{{cookiecutter.__project_slug}}" / "README.md"
        readme.write_text(readme.read_text() + "\nSee the rollout guide.\n")
        (readme.parent / "tests" / "test_more.py").write_text(
            "def test_more() -> None:\n    pass\n"
        )
        commit_all(repository, "B")

        start = [run(*REGIOCRM, "--help", cwd=scratch) for _ in range(runs)]
        render = []
        for index in range(runs):
            output = scratch / f"render-{index}"
            render.append(
                run(
                    sys.executable,
                    "-m",
                    "cookiecutter",
                    "--no-input",
                    repository,
                    "country_code=TH",
                    "-o",
                    output,
                    cwd=scratch,
                )
            )
        check = [run(*REGIOCRM, "market", "check", cwd=market, ok=(1,)) for _ in range(runs)]
        update = []
        for _ in range(runs):
            update.append(run(*REGIOCRM, "market", "update", cwd=market))
            run("git", "checkout", "--", ".", cwd=market)
            run("git", "clean", "-fdq", cwd=market)
    floor = statistics.median(start) + 2 * statistics.median(render)
    print(f"runs: {runs} (medians)")
    print(f"regiocrm --help (start):        {median(start)}")
    print(f"cookiecutter render (hooks):    {median(render)}")
    print(
        f"market check (behind):          {median(check)}"
        f"  ({statistics.median(check) / statistics.median(start):.2f}× start)"
    )
    print(
        f"market update (no conflict):    {median(update)}"
        f"  ({statistics.median(update) / floor:.2f}× start + two renders)"
    )


if __name__ == "__main__":
    main()
