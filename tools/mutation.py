"""Mutation testing of the pure modules, each against its own tests.

For every module in MODULES, mutmut 3 runs in a scratch copy of the project
(mutants/ and its cache never touch the work tree), mutating only that
module and running only the listed test files. Prints killed/total per module
and the surviving mutants; exits 1 when a module kills less than TARGET of
its mutants once the ones listed in EQUIVALENT (judged equivalent, with the
reason in the README) are set aside.

Usage: .venv/bin/python tools/mutation.py [module …]   (make mutation)
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.90
#: Survivors' diffs go here (git-ignored).
REPORTS = ROOT / "mutation-report"
#: module (under linksvc/) -> its own tests.
MODULES = {
    "core/addresses": ["tests/unit/test_addresses.py"],
    "core/clock": ["tests/unit/test_clock.py"],
    "core/conditional": ["tests/unit/test_conditional.py"],
    "core/durations": ["tests/unit/test_durations.py"],
    "core/errors": ["tests/unit/test_errors.py"],
    "files/tree": ["tests/unit/test_files.py"],
    "keys": ["tests/app/test_keys.py"],
    "files/offload": ["tests/unit/test_offload.py"],
    "core/previews": ["tests/unit/test_previews.py"],
    "files/sending": ["tests/unit/test_sending.py"],
    "core/signing": ["tests/unit/test_signing.py"],
    "core/text": ["tests/unit/test_text.py"],
    "throttle": ["tests/unit/test_throttle.py"],
    "core/unlock": ["tests/unit/test_unlock.py"],
    "files/zipstream": ["tests/unit/test_zipstream.py"],
    "links/options": ["tests/unit/test_options.py"],
}
#: Mutants judged equivalent (no behaviour can tell them apart), by name.
EQUIVALENT: set[str] = set(
    json.loads((ROOT / "tools" / "equivalent_mutants.json").read_text())
    if (ROOT / "tools" / "equivalent_mutants.json").exists()
    else []
)


def run(module: str, tests: list[str]) -> tuple[int, int, list[str]]:
    with tempfile.TemporaryDirectory(
        prefix=f"mutation-{module.replace('/', '-')}-"
    ) as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "linksvc", work / "linksvc")
        shutil.copytree(ROOT / "tests", work / "tests")
        config = (ROOT / "pyproject.toml").read_text()
        config += (
            "\n[tool.mutmut]\n"
            'source_paths = ["linksvc/"]\n'
            f'only_mutate = ["linksvc/{module}.py"]\n'
            f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
            'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
        )
        (work / "pyproject.toml").write_text(config)
        mutmut = [str(Path(sys.executable).with_name("mutmut"))]
        subprocess.run([*mutmut, "run"], cwd=work, capture_output=True, text=True)
        out = subprocess.run(
            [*mutmut, "results", "--all", "true"],
            cwd=work,
            capture_output=True,
            text=True,
        ).stdout
        states = dict(
            (m.group(1), m.group(2))
            for m in re.finditer(r"^\s*(\S+): (\w[\w ]*)$", out, re.M)
        )
        survived = sorted(
            name
            for name, state in states.items()
            if state != "killed" and name not in EQUIVALENT
        )
        # The diff of every survivor, for whoever writes the test that kills it.
        REPORTS.mkdir(exist_ok=True)
        with open(REPORTS / f"{module.replace('/', '-')}.txt", "w") as report:
            for name in survived:
                diff = subprocess.run(
                    [*mutmut, "show", name], cwd=work, capture_output=True, text=True
                ).stdout
                report.write(f"## {name} ({states[name]})\n{diff}\n")
    counted = [n for n in states if n not in EQUIVALENT]
    return len(counted) - len(survived), len(counted), survived


def main() -> None:
    chosen = sys.argv[1:] or list(MODULES)
    failed = False
    for module in chosen:
        killed, total, survived = run(module, MODULES[module])
        share = killed / total if total else 1.0
        mark = "ok" if share >= TARGET else "BELOW TARGET"
        print(f"{module:12} {killed:4}/{total:<4} killed {share:6.1%}  {mark}")
        for name in survived:
            print(f"    survived: {name}")
        failed |= share < TARGET
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
