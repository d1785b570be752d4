"""NetHack games in one process run one copy of NetHack's code instead of one copy each.

NLE gives every game its own globals by copying libnethack.so into a memfd and dlopen-ing the copy, again at every
reset. The copies' read-only segments (2.2 MB of code, 0.5 MB of read-only data) are byte for byte the installed
file's, yet each copy lives in pages of its own: an env worker stepping 32 games in turn pulls 32 copies of the
same code through the caches (NLE's C step grows several-fold with the games stepped in turn, docs/benchmarks.md).
After each load, `share_game_code` maps the installed file's pages over the copy's read-only segments, at the same
addresses with the same protections (MAP_FIXED, like the loader's own mappings), so that every game of every
process executes the same physical pages; each game's writable segment, its globals, stays its own.

It applies only where it is safe: Linux with glibc (dl_iterate_phdr), a library without text relocations, a copy
checked once to be identical to the installed file. Anywhere else, or on any error, the game keeps its own copy
(the env plays the same game either way: tested step for step against a stock env).
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import os
import sys
from dataclasses import dataclass
from typing import Any

from nle.nethack import nethack as nle_nethack

log = logging.getLogger(__name__)

PT_LOAD, PT_DYNAMIC = 1, 2
PF_X, PF_W = 1, 2
DT_NULL, DT_TEXTREL, DT_FLAGS, DF_TEXTREL = 0, 22, 30, 0x4
MAP_FIXED = 0x10  # the same value on every Linux architecture
_PAGE = mmap.PAGESIZE


class _Phdr(ctypes.Structure):  # Elf64_Phdr
    _fields_ = [("p_type", ctypes.c_uint32), ("p_flags", ctypes.c_uint32), ("p_offset", ctypes.c_uint64),
                ("p_vaddr", ctypes.c_uint64), ("p_paddr", ctypes.c_uint64), ("p_filesz", ctypes.c_uint64),
                ("p_memsz", ctypes.c_uint64), ("p_align", ctypes.c_uint64)]


class _DlPhdrInfo(ctypes.Structure):  # struct dl_phdr_info, the fields this module reads
    _fields_ = [("dlpi_addr", ctypes.c_uint64), ("dlpi_name", ctypes.c_char_p),
                ("dlpi_phdr", ctypes.POINTER(_Phdr)), ("dlpi_phnum", ctypes.c_uint16)]


class _Dyn(ctypes.Structure):  # Elf64_Dyn
    _fields_ = [("d_tag", ctypes.c_int64), ("d_val", ctypes.c_uint64)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_DlPhdrInfo), ctypes.c_size_t, ctypes.c_void_p)


@dataclass(frozen=True)
class Segment:
    """One read-only loaded segment of a library, page-aligned as the loader maps it."""

    start: int  # address
    length: int
    offset: int  # in the file
    executable: bool


def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.dl_iterate_phdr.argtypes = [_CALLBACK, ctypes.c_void_p]
    return libc


def _read_only_segments(info: _DlPhdrInfo) -> list[Segment] | None:
    """The object's read-only PT_LOAD segments; None when it has text relocations (its code differs from the file)."""
    segments: list[Segment] = []
    for k in range(info.dlpi_phnum):
        header = info.dlpi_phdr[k]
        if header.p_type == PT_DYNAMIC and _has_text_relocations(info.dlpi_addr + header.p_vaddr):
            return None
        if header.p_type != PT_LOAD or header.p_flags & PF_W or header.p_filesz == 0:
            continue
        start = (info.dlpi_addr + header.p_vaddr) // _PAGE * _PAGE
        end = -(-(info.dlpi_addr + header.p_vaddr + header.p_filesz) // _PAGE) * _PAGE
        offset = header.p_offset // _PAGE * _PAGE
        if (info.dlpi_addr + header.p_vaddr) - start != header.p_offset - offset:
            return None  # not mapped the way the loader maps a file: leave it alone
        segments.append(Segment(start, end - start, offset, bool(header.p_flags & PF_X)))
    return segments


def _has_text_relocations(address: int) -> bool:
    entries = ctypes.cast(address, ctypes.POINTER(_Dyn))
    for k in range(10_000):
        tag, value = entries[k].d_tag, entries[k].d_val
        if tag == DT_NULL:
            return False
        if tag == DT_TEXTREL or (tag == DT_FLAGS and value & DF_TEXTREL):
            return True
    return True  # no end found: do not trust it


class CodeSharer:
    """Maps one installed library's read-only pages over the loaded copies of it (see the module)."""

    def __init__(self, library: str) -> None:
        self.library = library
        self._libc = _libc()
        self._fd = os.open(library, os.O_RDONLY | os.O_CLOEXEC)
        self._size = os.fstat(self._fd).st_size
        self._checked: dict[tuple[int, ...], bool] = {}  # a copy's identity -> identical to the library

    def same_as_library(self, copy: str) -> bool:
        """Whether the file at `copy` holds the library's bytes (read once per file: NLE never writes its copy)."""
        found = os.stat(copy)
        key = (found.st_dev, found.st_ino, found.st_size, found.st_ctime_ns)  # a reused inode is another file
        if key not in self._checked:
            with open(copy, "rb") as handle:
                self._checked[key] = (os.fstat(handle.fileno()).st_size == self._size
                                      and handle.read() == os.pread(self._fd, self._size, 0))
        return self._checked[key]

    def loaded_segments(self, copy: str) -> list[Segment] | None:
        """The read-only segments of the loaded object named `copy` (None: not loaded, or not safe to share)."""
        found: list[list[Segment] | None] = []
        name = os.fsencode(copy)

        def visit(info: Any, size: int, data: Any) -> int:
            if info.contents.dlpi_name == name:
                found.append(_read_only_segments(info.contents))
                return 1
            return 0

        self._libc.dl_iterate_phdr(_CALLBACK(visit), None)
        return found[0] if found else None

    def share(self, copy: str) -> int:
        """Map the library's pages over the loaded `copy`'s read-only segments; how many segments were mapped."""
        segments = self.loaded_segments(copy)
        if not segments or not self.same_as_library(copy):
            return 0
        for segment in segments:
            protection = mmap.PROT_READ | (mmap.PROT_EXEC if segment.executable else 0)
            address = self._libc.mmap(segment.start, segment.length, protection, mmap.MAP_PRIVATE | MAP_FIXED,
                                      self._fd, segment.offset)
            if address != segment.start:
                raise OSError(ctypes.get_errno(), f"mmap over {copy} failed")
        return len(segments)


_SHARERS: dict[str, CodeSharer] = {}


def _sharer(library: str) -> CodeSharer:
    if library not in _SHARERS:
        _SHARERS[library] = CodeSharer(library)
    return _SHARERS[library]


def share_game_code(env: Any) -> bool:
    """Make `env`'s NetHack game (an NLE or MiniHack env) run the installed library's code pages from its next reset
    on; False (nothing changed) where that is not possible."""
    nethack = getattr(getattr(env, "unwrapped", env), "nethack", None)
    copy, library = getattr(nethack, "dlpath", None), _installed_library()
    if not (sys.platform == "linux" and sys.maxsize > 2**32 and nethack is not None and copy and library):
        return False
    try:
        sharer = _sharer(library)
        if not sharer.same_as_library(copy):
            return False
    except (OSError, AttributeError) as exc:  # no glibc, no /proc: keep NLE's own copies
        log.debug("NetHack code not shared: %s", exc)
        return False
    reset = nethack.reset

    def reset_then_share(*args: Any, **kwargs: Any) -> Any:
        result = reset(*args, **kwargs)  # NLE loads its copy again at every reset
        try:
            sharer.share(copy)
        except OSError as exc:  # the copy's own pages are still mapped: the game goes on as NLE made it
            log.debug("NetHack code not shared: %s", exc)
        return result

    nethack.reset = reset_then_share
    return True


def _installed_library() -> str | None:
    path = getattr(nle_nethack, "DLPATH", None)
    return path if path and os.path.isfile(path) else None
