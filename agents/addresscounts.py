"""Open sessions per client address, counted across all agents processes of a host.

Several agents processes share the listening ports (agents.runner); a per-process count would
let one address open that many times the per-address limit (Postfix counts in its one anvil(8)
server). The first process makes this table before it forks the others: a shared memory map of
counters indexed by a hash of the address, each update under a POSIX record lock on that counter
(released by the kernel should a process die while holding it). Two addresses that hash to the
same counter share it, which can only make the limit stricter for them, and rarely: 65536
counters.
"""

from __future__ import annotations

import fcntl
import mmap
import struct
import tempfile
import zlib

COUNTERS = 65536
_COUNTER = struct.Struct("<I")


class AddressCounts:
    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # lives as long as the processes
        self._file.truncate(COUNTERS * _COUNTER.size)
        self._fd = self._file.fileno()
        self._map = mmap.mmap(self._fd, COUNTERS * _COUNTER.size)  # MAP_SHARED: seen after fork

    def _offset(self, address: str) -> int:
        return (zlib.crc32(address.encode()) % COUNTERS) * _COUNTER.size

    def acquire(self, address: str, limit: int) -> bool:
        """Count one more session of address, unless it already has `limit` open."""
        offset = self._offset(address)
        fcntl.lockf(self._fd, fcntl.LOCK_EX, _COUNTER.size, offset)
        try:
            (count,) = _COUNTER.unpack_from(self._map, offset)
            if count >= limit:
                return False
            _COUNTER.pack_into(self._map, offset, count + 1)
            return True
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, _COUNTER.size, offset)

    def release(self, address: str) -> None:
        offset = self._offset(address)
        fcntl.lockf(self._fd, fcntl.LOCK_EX, _COUNTER.size, offset)
        try:
            (count,) = _COUNTER.unpack_from(self._map, offset)
            _COUNTER.pack_into(self._map, offset, max(0, count - 1))
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, _COUNTER.size, offset)


# Made by agents.runner before it forks the other agents processes; None with one process.
shared_address_counts: AddressCounts | None = None
