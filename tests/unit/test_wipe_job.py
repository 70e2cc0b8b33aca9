"""The wipe job's shell script, run by a real sh: it needs nothing but sh and rm."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from swarmredis.plan.jobs import WIPE_NO_RM, VolumeSet, wipe_failure, wipe_job


def _script(root: Path) -> str:
    job = wipe_job("acme", VolumeSet(("acme_data-1",), "redis:7.0"))
    command = job["TaskTemplate"]["ContainerSpec"]["Command"]
    assert command[:2] == ["sh", "-c"]
    return str(command[2]).replace("/v/", f"{root}/")


def test_it_empties_every_volume_dotfiles_and_folders_included(tmp_path: Path) -> None:
    volume = tmp_path / "acme_data-1"
    (volume / "appendonlydir").mkdir(parents=True)
    (volume / "appendonlydir" / "appendonly.aof.1.base.rdb").write_text("x")
    (volume / "nodes.conf").write_text("x")
    (volume / ".hidden").write_text("x")
    (volume / "..odd").write_text("x")
    done = subprocess.run(
        ["sh", "-c", _script(tmp_path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(volume.iterdir()) == []


def test_without_rm_it_stops_first_and_says_what_is_missing(tmp_path: Path) -> None:
    volume = tmp_path / "acme_data-1"
    volume.mkdir()
    (volume / "dump.rdb").write_text("x")
    sh = shutil.which("sh")
    assert sh is not None
    done = subprocess.run(
        [sh, "-c", _script(tmp_path)],
        capture_output=True,
        text=True,
        env={"PATH": "/nonexistent"},
        timeout=30,
    )
    assert done.returncode == WIPE_NO_RM
    assert (volume / "dump.rdb").exists()  # nothing touched
    why = wipe_failure(f"task: non-zero exit ({done.returncode})", "tiny:1")
    assert why.startswith("the image tiny:1 has no rm, which the wipe job needs")
