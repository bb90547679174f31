"""SQLite stores survive a process exit: a new process reads the same runs, events, tree."""

from __future__ import annotations

from pathlib import Path

from .._restart_script import check_read_back, run_script


def test_a_new_process_reads_back_runs_events_and_trees(tmp_path: Path) -> None:
    """Runs, events, checkpoints and the spawn tree written by one process are read back."""
    url = f"sqlite:///{tmp_path}/runs.db"
    written = run_script("write", url)
    assert len([r for r in written["runs"] if r["kind"] == "agent"]) == 8
    check_read_back(written, run_script("read", url, written["root"]))


def test_a_process_that_never_closes_its_runtime_loses_nothing(tmp_path: Path) -> None:
    """Exiting without aclose() neither hangs nor drops the writes still buffered."""
    url = f"sqlite:///{tmp_path}/runs.db?flush_interval=3600"
    written = run_script("write-without-close", url)
    check_read_back(written, run_script("read", url, written["root"]))
