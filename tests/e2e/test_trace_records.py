"""`trace --records DIR` in a folder others can write to, or that holds the user's files.

The hook writes each process's records into a file it makes itself (O_EXCL, never through a
symlink, 0600: it holds argv and cwd), in a folder the harness made or checked to be the
user's own; the harness's FIFO lives in a private folder, so nothing of the user's is ever
touched, and that folder is gone after the trace.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from gvlbench.trace.run import RecordTail
from tests.conftest import REPO, gvlbench, one_line_error

sys.path.insert(0, str(REPO / "gvlbench" / "trace" / "hook"))
from gvlbench_tracehook import records

PROGRAM = "import wasmtime\nwasmtime.Store()\n"


def _program(tmp_path: Path) -> str:
    path = tmp_path / "prog.py"
    path.write_text(PROGRAM)
    return str(path)


def test_records_go_to_a_new_private_folder_and_nothing_of_the_users_is_touched(
    tmp_path: Path,
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    (mine / "alive.fifo").write_text("the user's own file")
    made = tmp_path / "new" / "records"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    for folder in (mine, made):
        cli = gvlbench("trace", "-q", "--records", str(folder), "--", _program(tmp_path),
                       env={"TMPDIR": str(scratch)})  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        files = list(folder.glob("proc-*.jsonl"))
        assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert (mine / "alive.fifo").read_text() == "the user's own file"
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    assert list(scratch.iterdir()) == [], "the harness's private folder outlived the trace"


def test_a_records_folder_others_can_write_to_or_a_symlink_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    link = tmp_path / "link"
    link.symlink_to(shared)
    taken = tmp_path / "taken"
    taken.mkdir(mode=0o700)
    (taken / "proc-1.jsonl").write_text("")
    for folder, words in ((shared, "writable by others"), (link, "symbolic link"),
                          (taken, "already holds records"),
                          (tmp_path / "prog.py" / "x", "Not a directory")):  # fmt: skip
        cli = gvlbench("trace", "--records", str(folder), "--", _program(tmp_path))
        one_line_error(cli, f"--records {folder}", words)
    assert list(shared.iterdir()) == []


def test_the_hook_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_text("")
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / f"proc-{os.getpid()}.jsonl").symlink_to(outside)
    records._state.update(dir=str(folder), fd=None, path="")
    try:
        records.write("note", text="hello")
    finally:
        records._state.update(dir="", fd=None, path="")
    assert outside.read_text() == ""
    made = folder / f"proc-{os.getpid()}.1.jsonl"
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    # and the reader reads the file the hook made, never the link
    kinds = [record["t"] for _, record in RecordTail(folder).read()]
    assert kinds == ["process", "note"]
