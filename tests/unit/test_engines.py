"""engines.py against real libraries: the engine and version a loaded library carries.

Expected versions come from sources independent of the scan: the CycloneDX SBOM maturin
writes into a wheel's dist-info (numcodecs-wasm, extism-sys), and wasmtime-py's own version
(its engine's major is the package's). Packages come from the `embedded` extra; a test skips,
saying so, only where that extra is absent.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from gvlbench import engines

SITE = Path(sysconfig.get_paths()["purelib"])


def _needs(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (the `embedded` extra: make test installs it)")


def sbom_version(dist: str, crate: str) -> str:
    """The crate's version in the wheel's SBOM: the build's own record of what it linked."""
    files = md.distribution(dist).files or []
    sbom = next(f for f in files if str(f).endswith(".cyclonedx.json"))
    data = json.loads(Path(str(sbom.locate())).read_text())

    def walk(components: list[dict]) -> list[dict]:
        out = []
        for c in components:
            out += [c, *walk(c.get("components", []))]
        return out

    versions = {c["version"] for c in walk(data.get("components", [])) if c["name"] == crate}
    assert len(versions) == 1, versions
    return versions.pop()


@pytest.mark.parametrize(("module", "rel", "dist"), [
    ("numcodecs_wasm", "numcodecs_wasm/_wasm.abi3.so", "numcodecs_wasm"),
    ("extism_sys", "extism_sys/libextism_sys.so", "extism_sys"),
])  # fmt: skip
def test_an_embedded_wasmtime_is_found_with_its_version(module: str, rel: str, dist: str) -> None:
    _needs(module)
    hits = engines.scan_file(str(SITE / rel))
    assert [(h.engine, h.version) for h in hits] == [("wasmtime", sbom_version(dist, "wasmtime"))]
    assert "crate paths wasmtime-" in hits[0].evidence


def test_wasmtime_py_own_build_is_found_by_its_trap_message() -> None:
    path = next((SITE / "wasmtime").glob("*/_libwasmtime.so"))
    (hit,) = engines.scan_file(str(path))
    assert hit.engine == "wasmtime" and hit.version is not None
    assert hit.version.split(".")[0] == md.version("wasmtime").split(".")[0]
    assert "wasmtime_func_call" in hit.evidence


def _plain_objects() -> list[str]:
    import _ssl

    out = [_ssl.__file__, os.path.realpath(sys.executable)]
    libpython = sysconfig.get_config_var("LDLIBRARY")
    libdir = sysconfig.get_config_var("LIBDIR")
    if libpython and libdir and (Path(libdir) / libpython).exists():
        out.append(str(Path(libdir) / libpython))
    return out


@pytest.mark.parametrize("path", _plain_objects())
def test_a_library_that_runs_no_wasm_is_not_an_engine(path: str) -> None:
    assert engines.scan_file(path) == []


def _cc(tmp: Path, name: str, source: str) -> str:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (make test installs gcc)")
    src = tmp / f"{name}.c"
    src.write_text(source)
    out = tmp / f"lib{name}.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
    return str(out)


def test_a_client_of_libwasmtime_is_not_an_engine(tmp_path: Path) -> None:
    """A library that calls wasmtime_func_call has it in .dynsym too, but undefined."""
    source = "int wasmtime_func_call(void);\nint f(void){return wasmtime_func_call();}\n"
    lib = _cc(tmp_path, "client", source)
    assert b"wasmtime_func_call" in Path(lib).read_bytes()
    assert engines.scan_file(lib) == []


def test_a_defined_engine_symbol_names_the_engine(tmp_path: Path) -> None:
    (hit,) = engines.scan_file(_cc(tmp_path, "provider", "int m3_Call(void){return 0;}\n"))
    assert (hit.engine, hit.version) == ("wasm3", None) and "exports m3_Call" in hit.evidence


def test_a_crate_path_gives_the_version_and_lookalikes_do_not_count(tmp_path: Path) -> None:
    src = 'const char *p = "/x/registry/src/i/wasmi-0.40.1/src/engine.rs";\n'
    (hit,) = engines.scan_file(_cc(tmp_path, "fake_wasmi", src))
    assert (hit.engine, hit.version) == ("wasmi", "0.40.1")
    lookalikes = textwrap.dedent("""\
        const char *a = "/r/wasmparser-0.263.0/src/lib.rs";
        const char *b = "/r/wasmtime-environ-37.0.3/src/lib.rs";
        const char *d = "/r/my-wasmtime-1.0.0/src/lib.rs";
    """)
    assert engines.scan_file(_cc(tmp_path, "lookalike", lookalikes)) == []


def test_the_scan_is_bounded_and_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "copy.so"
    shutil.copy(next((SITE / "wasmtime").glob("*/_libwasmtime.so")), path)
    monkeypatch.setattr(engines, "MAX_SCAN_BYTES", 4096)
    hits = engines.scan_file(str(path))
    assert all("scan truncated at 4096 bytes" in h.evidence for h in hits)


def test_a_file_that_is_not_elf_is_a_value_error(tmp_path: Path) -> None:
    p = tmp_path / "x.so"
    p.write_bytes(b"not an elf" * 10)
    with pytest.raises(ValueError, match="not an ELF"):
        engines.scan_file(str(p))


def test_the_process_itself_is_scanned_and_its_own_binding_claims_libwasmtime() -> None:
    from gvlbench import bindings
    from gvlbench.binding import internals

    hits = engines.detect()
    mine = [h for h in hits if h.path == os.path.realpath(internals.LIBRARY_PATH)]
    assert mine and mine[0].engine == "wasmtime"
    assert bindings.get("wasmtime-py").claims(mine[0].path)
    assert not bindings.get("native").claims(mine[0].path)
