"""Just enough ELF to read a shared object without loading it: read-only data, dynamic symbols.

engines.py asks a loaded library which Wasm engine it carries; the only honest source is the
file itself, read through a read-only mmap. 32/64-bit, either byte order; nothing is executed
and nothing is relocated.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterable, Iterator

MAGIC = b"\x7fELF"
_SHT_DYNSYM, _SHT_NOBITS, _PT_LOAD, _PF_W = 11, 8, 1, 2


class Elf:
    """Just enough ELF (32/64-bit, either byte order) to find read-only data and dynsyms."""

    def __init__(self, mm: mmap.mmap) -> None:
        self.mm = mm
        ei_class, ei_data = mm[4], mm[5]
        if ei_class not in (1, 2) or ei_data not in (1, 2):
            raise ValueError("unsupported ELF class or byte order")
        self.is64 = ei_class == 2
        self.end = "<" if ei_data == 1 else ">"
        if self.is64:
            hdr = struct.unpack_from(self.end + "HHIQQQIHHHHHH", mm, 16)
        else:
            hdr = struct.unpack_from(self.end + "HHIIIIIHHHHHH", mm, 16)
        (_, _, _, _, self.phoff, self.shoff, _, _, self.phentsize, self.phnum,
         self.shentsize, self.shnum, self.shstrndx) = hdr  # fmt: skip
        self.size = len(mm)
        self.sections = self._sections()

    def _sections(self) -> list[tuple[bytes, int, int, int, int, int]]:
        """(name, type, offset, size, link, entsize) for each section; [] if there is no table."""
        if not self.shoff or not self.shnum or self.shoff + self.shnum * self.shentsize > self.size:
            return []
        fmt = self.end + ("IIQQQQIIQQ" if self.is64 else "IIIIIIIIII")
        raw = [
            struct.unpack_from(fmt, self.mm, self.shoff + i * self.shentsize)
            for i in range(self.shnum)
        ]
        if self.shstrndx >= len(raw):
            return []
        str_off = raw[self.shstrndx][4]
        out = []
        for name_off, sh_type, _fl, _addr, off, size, link, _info, _al, entsize in raw:
            name = self._cstr(str_off + name_off)
            out.append((name, sh_type, off, size, link, entsize))
        return out

    def _cstr(self, off: int) -> bytes:
        end = self.mm.find(b"\0", off, min(off + 4096, self.size))
        return self.mm[off:end] if end >= 0 else b""

    def data_regions(self, prefixes: tuple[bytes, ...]) -> list[tuple[int, int]]:
        """File ranges worth scanning: the sections whose names start with one of `prefixes`
        (read-only data), else the non-writable segments."""
        regions = [
            (off, min(off + size, self.size))
            for name, sh_type, off, size, _l, _e in self.sections
            if sh_type != _SHT_NOBITS and any(name.startswith(p) for p in prefixes)
        ]
        return regions or self._readonly_segments()

    def _readonly_segments(self) -> list[tuple[int, int]]:
        fmt = self.end + ("IIQQQQQQ" if self.is64 else "IIIIIIII")
        out = []
        for i in range(self.phnum):
            ph = struct.unpack_from(fmt, self.mm, self.phoff + i * self.phentsize)
            if self.is64:
                p_type, flags, off, _va, _pa, filesz, _mem, _al = ph
            else:
                p_type, off, _va, _pa, filesz, _mem, flags, _al = ph
            if p_type == _PT_LOAD and not flags & _PF_W:
                out.append((off, min(off + filesz, self.size)))
        return out

    def defined_dynamic_symbols(self, wanted: Iterable[bytes]) -> Iterator[bytes]:
        """Names of .dynsym entries that this file defines (st_shndx != SHN_UNDEF).

        The symbol table is walked only when one of `wanted` occurs in its string table:
        libc or libstdc++ have thousands of symbols and none of ours.
        """
        for _name, sh_type, off, size, link, entsize in self.sections:
            if sh_type != _SHT_DYNSYM or not entsize or link >= len(self.sections):
                continue
            _n, _t, str_off, str_size, _l, _e = self.sections[link]
            str_end = min(str_off + str_size, self.size)
            if any(self.mm.find(b"\0" + w + b"\0", str_off, str_end) >= 0 for w in wanted):
                yield from self._symbols(off, size, entsize, str_off)

    def _symbols(self, off: int, size: int, entsize: int, str_off: int) -> Iterator[bytes]:
        if self.is64:
            fmt, shndx_at = self.end + "IBBH", 3
        else:
            fmt, shndx_at = self.end + "IIIBBH", 5
        for i in range(size // entsize):
            ent = struct.unpack_from(fmt, self.mm, off + i * entsize)
            if ent[shndx_at] != 0:
                yield self._cstr(str_off + ent[0])
