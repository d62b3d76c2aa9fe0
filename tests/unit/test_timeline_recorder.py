"""The child's recorder in-process with the real engine: with the shim, a call is split at
the native timestamps; without a C compiler it is drawn whole, and the part says which spans
could not be measured."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from gvlbench import native
from gvlbench.binding import native_guard, timeline
from gvlbench.protocol import Mode
from tests.conftest import WAT


@pytest.fixture
def spin() -> Iterator[tuple[wasmtime.Store, wasmtime.Func]]:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, (WAT / "spin.wat").read_text())
    yield store, wasmtime.Instance(store, module, []).exports(store)["spin"]


def _fresh_shims() -> None:
    native_guard._shim.cache_clear()
    timeline._shim.cache_clear()


def _record(recorder: timeline.Recorder, spin: tuple[wasmtime.Store, wasmtime.Func]) -> list:
    store, func = spin
    recorder.use_stock(Mode.RELEASED)
    try:
        recorder.start()
        func(store, 100_000)
        recorder.stop()
    finally:
        from gvlbench.binding.invoke import use_stock_mode

        use_stock_mode(Mode.RELEASED)
    track = recorder.track("g", "me", threading.get_native_id(), Mode.RELEASED)
    return [s[0] for s in track.spans]


def test_with_the_shim_the_wait_after_the_call_is_measured(spin) -> None:
    if native.unavailable_reason():
        pytest.skip(native.UNAVAILABLE_NO_CC)
    recorder = timeline.Recorder()
    assert recorder.unmeasured == []
    assert _record(recorder, spin) == ["python", "wasm-released", "wait-return"]


def test_without_a_compiler_calls_are_drawn_whole_and_the_part_says_so(
    spin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(native, "LIBRARY", tmp_path / "libgvlguard.so")
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    _fresh_shims()
    try:
        recorder = timeline.Recorder()
        (note,) = recorder.part([], []).unmeasured
        assert "no C compiler" in note and "waits for the lock after a call" in note
        assert _record(recorder, spin) == ["call"]
    finally:
        monkeypatch.undo()
        _fresh_shims()
