"""Fill a root filesystem for the lab's registry-free exporter image: this Python (its
binary, the shared libraries it and its extension modules load, its standard library) and
swarmredis with what it needs to run, taken from the running environment, offline.

    python scripts/exporter_rootfs.py ROOT

Run by `scripts/lab up` with the project's venv Python. Python lives under /usr/local (it
finds its standard library next to its binary); `python3 -m swarmredis` runs as any user.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

from pip._vendor.packaging.requirements import Requirement

PACKAGE = Path(__file__).resolve().parent.parent / "swarmredis"
VERSION = f"python{sys.version_info.major}.{sys.version_info.minor}"
SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages"}
SKIP_FILES = shutil.ignore_patterns("__pycache__", "*.pyc", "*.a", "config-*")


def runtime_distributions() -> list[metadata.Distribution]:
    """The distributions pyproject.toml's dependencies need, transitively, without extras
    (from the file: an editable install's metadata may predate a new dependency)."""
    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]
    seen: dict[str, metadata.Distribution] = {}
    todo = [Requirement(r) for r in project["dependencies"]]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if key in seen:
            continue
        dist = metadata.distribution(requirement.name)
        seen[key] = dist
        todo += [Requirement(r) for r in dist.requires or ()]
    return list(seen.values())


def copy_libraries(root: Path, binary: Path) -> None:
    """The shared libraries ``binary`` loads (ldd), at their own paths under ``root``."""
    found = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    for path in re.findall(r"(/\S+)", found):
        target = root / path.lstrip("/")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(path), target)


def main(root: Path) -> None:
    prefix = root / "usr" / "local"
    binary = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    (prefix / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, prefix / "bin" / VERSION)
    (prefix / "bin" / "python3").symlink_to(VERSION)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    library = prefix / "lib" / VERSION
    library.mkdir(parents=True)
    for item in stdlib.iterdir():
        if item.name in SKIP:
            continue
        if item.is_dir():
            shutil.copytree(item, library / item.name, ignore=SKIP_FILES)
        else:
            shutil.copy2(item, library / item.name)
    site = library / "site-packages"
    for dist in runtime_distributions():
        for file in dist.files or ():
            source = Path(str(dist.locate_file(file)))
            if source.is_file() and "__pycache__" not in file.parts and ".." not in file.parts:
                (site / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, site / file)
    shutil.copytree(PACKAGE, site / "swarmredis", ignore=SKIP_FILES)
    copy_libraries(root, binary)
    for module in root.rglob("*.so*"):
        copy_libraries(root, module)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
