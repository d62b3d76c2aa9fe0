"""WAT compilation: both compilers, the content-hash cache, and the compiler's own words."""

from __future__ import annotations

import shutil

import pytest

from gvlbench import wat
from gvlbench.errors import WatError
from tests.conftest import WAT


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("GVLBENCH_CACHE", str(tmp_path / "cache"))
    wat.compiler.cache_clear()
    yield monkeypatch
    wat.compiler.cache_clear()


@pytest.mark.parametrize("choice", ["", "none"])
def test_compiles_and_caches_by_content(fresh, tmp_path, choice: str) -> None:
    fresh.setenv("GVLBENCH_WAT2WASM", choice)
    if not choice and not shutil.which("wat2wasm"):
        pytest.skip("wabt's wat2wasm is not installed")
    first = wat.compile_wat(WAT / "spin.wat")
    assert first.wasm_path.read_bytes().startswith(b"\0asm")
    stamp = first.wasm_path.stat().st_mtime_ns
    again = wat.compile_wat(WAT / "spin.wat")
    assert again == first and again.wasm_path.stat().st_mtime_ns == stamp
    expected = "wasmtime.wat2wasm" if choice else "wabt wat2wasm"
    assert first.compiler.startswith(expected)
    src = tmp_path / "other.wat"
    src.write_text((WAT / "spin.wat").read_text() + "\n;; changed\n")
    assert wat.compile_wat(src).wasm_path != first.wasm_path


@pytest.mark.parametrize("choice", ["", "none"])
def test_errors_carry_the_compilers_message_with_a_location(fresh, tmp_path, choice) -> None:
    fresh.setenv("GVLBENCH_WAT2WASM", choice)
    src = tmp_path / "bad.wat"
    src.write_text("(module (func")
    with pytest.raises(WatError) as info:
        wat.compile_wat(src)
    assert f"{src}:1:14" in str(info.value)
    assert "\n" not in str(info.value)
