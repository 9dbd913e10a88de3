"""BUILD.md's layout names every module, flag file and tool that exists, and nothing that does
not: it cannot drift from the tree again."""

import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def listed() -> set[str]:
    """The paths BUILD.md's layout block names, folders resolved by indentation."""
    text = open(os.path.join(ROOT, "BUILD.md"), encoding="utf-8").read()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    paths, folders = set(), []  # folders: (indent, name) from the outermost in
    for line in block.splitlines():
        match = re.match(r"^( *)(\S+)", line)
        if not match or line.startswith(" " * 20):  # a wrapped description
            continue
        indent, name = len(match.group(1)), match.group(2)
        folders = [(i, f) for i, f in folders if i < indent]
        path = "".join(f for _, f in folders) + name
        if name.endswith("/"):
            folders.append((indent, name))
        paths.add(path)
    return paths


def present() -> set[str]:
    modules = [p for pattern in ("vaegan_tf/**/*.py", "export/*.py", "tools/*.py")
               for p in glob.glob(os.path.join(ROOT, pattern), recursive=True)
               if not p.endswith("__init__.py")]
    others = glob.glob(os.path.join(ROOT, "*.flags")) + glob.glob(os.path.join(ROOT, "run.py"))
    return {os.path.relpath(p, ROOT).replace(os.sep, "/") for p in modules + others}


def test_every_module_flag_file_and_tool_is_in_the_layout():
    missing = present() - listed()
    assert not missing, f"add to BUILD.md's layout: {sorted(missing)}"


def test_the_layout_names_nothing_that_does_not_exist():
    files = {p for p in listed() if not p.endswith("/")}
    gone = sorted(p for p in files if not os.path.exists(os.path.join(ROOT, p)))
    assert not gone, f"BUILD.md's layout names files that do not exist: {gone}"
