"""A statement that runs Wasm through a compiled extension's own engine (the native binding).

numcodecs-wasm's codecs are a PyO3 extension that links its own build of wasmtime (37.x,
where gvlbench runs wasmtime-py 50) and calls it from inside compiled code. run, race and
profile must name that engine and its version, measure whether the statement lets another
thread run, and show held, patches and guards as N/A with the reason: never as measured rows.
The package comes from the `embedded` extra (make test installs it).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import gvlbench
from tests.unit.test_engines import sbom_version

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("numcodecs_wasm_zstd") is None,
    reason="numcodecs-wasm is not installed (the `embedded` extra: make test installs it)",
)

SETUP = ("--setup", "import numpy as np; from numcodecs_wasm_zstd import Zstd; "
         "a = np.arange(100_000, dtype='f8')")  # fmt: skip
CODE = (*SETUP, "--per-thread-setup", "c = Zstd(level=3)", "--stmt", "len(c.encode(a))")
SHARED = (*SETUP, "--setup", "c = Zstd(level=3)", "--stmt", "len(c.encode(a))")


def _engine_keys(doc: dict) -> None:
    md = doc["metadata"]
    assert md["binding"] == "native"
    assert (md["engine"], md["engine_version"]) == (
        "wasmtime",
        sbom_version("numcodecs_wasm", "wasmtime"),
    )
    assert md["engine_library"].endswith("numcodecs_wasm/_wasm.abi3.so")
    assert "wasmtime_version" not in md  # not the engine this code ran


def test_run_names_the_extension_engine_and_measures_only_what_it_can(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    cli = gvlbench("run", *CODE, "--threads", "2", "--rounds", "3", "--progress-repeats", "3",
                   "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    doc = json.loads(out.read_text())
    _engine_keys(doc)
    modes = {b["metadata"]["mode"] for b in doc["benchmarks"]}
    assert modes == {"as-shipped"}  # no held row: gvlbench cannot hold this lock
    (progress,) = doc["gvlbench"]["progress"]
    assert progress["mode"] == "as-shipped" and len(progress["samples"]) == 3
    (held,) = doc["gvlbench"]["not_applicable"]
    assert held["what"] == "mode held" and "no handle" in held["reason"]
    assert "calls Wasm through the native binding: wasmtime" in cli.stdout
    assert "Not applicable here" in cli.stdout and "mode held" in cli.stdout


def test_a_patch_on_an_engine_it_cannot_reach_is_n_a_not_a_measured_row(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    cli = gvlbench("run", *CODE, "--threads", "1", "--rounds", "3", "--progress-repeats", "0",
                   "--patch", "store-guard", "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    doc = json.loads(out.read_text())
    assert not any("patches" in b["metadata"] for b in doc["benchmarks"])
    whats = {row["what"] for row in doc["gvlbench"]["not_applicable"]}
    assert whats == {"mode held", "patch store-guard"}


def test_race_on_a_shared_codec_measures_as_shipped_and_lists_held_and_the_guard(
    tmp_path: Path,
) -> None:
    out = tmp_path / "race.json"
    cli = gvlbench("race", *SHARED, "--threads", "4", "--trials", "1", "--duration", "1",
                   "--matrix", "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    doc = json.loads(out.read_text())
    _engine_keys(doc)
    assert {r["mode"] for r in doc["gvlbench"]["race"]} == {"as-shipped"}
    assert all(not r["patches"] for r in doc["gvlbench"]["race"])
    skipped = {row["what"] for row in doc["gvlbench"]["not_applicable"]}
    assert skipped == {"code, held", "code, released, store-guard"}


def test_profile_names_the_engine_and_measures_the_lock(tmp_path: Path) -> None:
    out = tmp_path / "profile.json"
    cli = gvlbench("profile", *CODE, "--budget", "0.5", "--rounds", "3", "--json", str(out))
    assert cli.returncode == 0, cli.stdout + cli.stderr
    doc = json.loads(out.read_text())
    _engine_keys(doc)
    (row,) = doc["gvlbench"]["profile"]
    assert row["mode"] == "as-shipped" and len(row["progress"]) == 3
    assert all(p >= 0 for p in row["progress"])
    assert "sibling progress during the statement" in cli.stdout
    assert "phases: N/A" in cli.stdout
