"""README.md's two commands are what .ci/run runs: CI cannot pass while the README is wrong."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*path: str) -> str:
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


def test_ci_runs_the_readmes_install_and_test_commands():
    block = re.search(r"```bash\n(.*?)```", _read("README.md"), re.S).group(1).strip().splitlines()
    assert len(block) == 2, block  # the README opens with exactly two commands
    install_and_demo, test = block
    install, demo = install_and_demo.rsplit(" && ", 1)
    assert demo == "python run.py --flagfile=demo.flags"
    # Besides them, .ci/run installs Chromium for the app's browser test, where it is missing.
    ci = [line for line in _read(".ci", "run").splitlines()
          if line and not line.startswith(("#", "set ", "cd ", "command -v chromium "))]
    assert ci == [install, test]


def test_the_readme_is_a_five_minute_read_and_links_resolve():
    text = _read("README.md")
    words = len(re.sub(r"```.*?```|\|.*\|", "", text, flags=re.S).split())
    assert words < 1200, words  # ~250 words a minute, tables and commands aside
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        assert os.path.exists(os.path.join(ROOT, target)), target
