"""Rescue the complete part of a rosbag2 recording that was cut short (disk full, power loss, a copy stopped).

A truncated mcap has no footer or summary and a truncated sqlite3 file is a
"malformed" database, so neither opens. ``salvage`` writes a readable copy of
everything before the cut into a scratch folder, beside the original
``metadata.yaml`` (whose message counts are the recording's, so a reader can
tell how much was lost):

- mcap: every top-level record that is whole (schemas, channels, messages,
  chunks whose data decompresses and checks out), then the whole records at
  the start of the chunk the cut went through (decompressed as far as its
  data goes, written out of the chunk), then a DataEnd record and a footer
  without a summary, which readers then scan;
- sqlite3: the schema and small tables, then message rows in id order until
  the first one the damaged file cannot give.
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
import sys
from pathlib import Path

import lz4.frame  # type: ignore[import-untyped]
from rosbags.rosbag2.storage_mcap import decompress

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

MCAP_MAGIC = b"\x89MCAP0\r\n"
_CHUNK, _DATA_END, _FOOTER = 0x06, 0x0F, 0x02
_FIRST_OPCODE, _LAST_OPCODE = 0x01, 0x0F  # opcodes the MCAP specification defines


class SalvageError(Exception):
    """Nothing could be rescued: not a rosbag2 folder with one mcap or sqlite3 file, or its start is damaged."""


def salvage(bag: Path, scratch: Path) -> tuple[Path, str]:
    """Write the readable part of the rosbag2 folder ``bag`` into ``scratch``/``bag.name``.

    Returns:
        The rescued bag folder and a description of what was kept.

    Raises:
        SalvageError: nothing could be rescued.
    """
    storage = [p for p in bag.glob("*") if p.suffix in (".mcap", ".db3")] if bag.is_dir() else []
    if len(storage) != 1 or not (bag / "metadata.yaml").is_file():
        raise SalvageError(f"{bag}: not a rosbag2 folder with one mcap or sqlite3 file")
    target = scratch / bag.name
    target.mkdir(parents=True)
    shutil.copy(bag / "metadata.yaml", target / "metadata.yaml")
    source = storage[0]
    if source.suffix == ".mcap":
        kept = _salvage_mcap(source, target / source.name)
    else:
        kept = _salvage_sqlite(source, target / source.name)
    return target, f"{source.name} is damaged or cut short; {kept}"


def _record_end(data: bytes, start: int) -> int | None:
    """Where the MCAP record at ``start`` ends, if it is whole and (for a chunk) its data checks out."""
    if start + 9 > len(data):
        return None
    opcode = data[start]
    (length,) = struct.unpack_from("<Q", data, start + 1)
    end = start + 9 + length
    if not _FIRST_OPCODE <= opcode <= _LAST_OPCODE or opcode in (_DATA_END, _FOOTER) or end > len(data):
        return None
    if opcode == _CHUNK:
        try:
            _, _, size, crc = struct.unpack_from("<QQQI", data, start + 9)
            (name_length,) = struct.unpack_from("<I", data, start + 37)
            compression = data[start + 41 : start + 41 + name_length].decode()
            (compressed_size,) = struct.unpack_from("<Q", data, start + 41 + name_length)
            body = start + 49 + name_length
            decompress(data[body : body + compressed_size], compression, size, crc)
        except Exception:  # a damaged chunk: its decompressor or checksum failed, in their own exception types
            return None
    return end


def _decompress_partial(data: bytes, compression: str) -> bytes:
    """As much of a cut chunk's records as its compressed data gives (b"" if none)."""
    try:
        if compression == "zstd":
            return zstd.ZstdDecompressor().decompress(data)
        if compression == "lz4":
            return bytes(lz4.frame.LZ4FrameDecompressor().decompress(data))
    except Exception:  # the decompressors' own error types: nothing usable
        return b""
    return data if compression == "" else b""


def _whole_records(data: bytes) -> tuple[bytes, int]:
    """The whole records at the start of ``data`` (as the cut chunk's content), and how many."""
    end, count = 0, 0
    while end + 9 <= len(data) and end + 9 + struct.unpack_from("<Q", data, end + 1)[0] <= len(data):
        end, count = end + 9 + struct.unpack_from("<Q", data, end + 1)[0], count + 1
    return data[:end], count


def _cut_chunk(data: bytes, start: int) -> tuple[bytes, int]:
    """The whole records inside the chunk record at ``start``, which the cut went through."""
    if start + 49 > len(data) or data[start] != _CHUNK:
        return b"", 0
    (name_length,) = struct.unpack_from("<I", data, start + 37)
    compression = data[start + 41 : start + 41 + name_length].decode(errors="replace")
    body = start + 49 + name_length
    return _whole_records(_decompress_partial(data[body:], compression))


def _salvage_mcap(source: Path, target: Path) -> str:
    data = source.read_bytes()
    if not data.startswith(MCAP_MAGIC) or (header_end := _record_end(data, len(MCAP_MAGIC))) is None:
        raise SalvageError(f"{source}: not an mcap file, or its header is damaged")
    end, records = header_end, 0
    while (next_end := _record_end(data, end)) is not None:
        end, records = next_end, records + 1
    rescued, inner = _cut_chunk(data, end)
    data_end = bytes([_DATA_END]) + struct.pack("<QI", 4, 0)
    footer = bytes([_FOOTER]) + struct.pack("<QQQI", 20, 0, 0, 0)
    target.write_bytes(data[:end] + rescued + data_end + footer + MCAP_MAGIC)
    return f"kept its first {end} of {len(data)} bytes ({records} whole records) and {inner} records of the cut chunk"


def _readable_copy(source: Path, copy: Path) -> None:
    """Copy the whole pages of a cut sqlite3 file, with its header's page count cleared.

    SQLite refuses a file shorter than the page count its header states; with
    the count at 0 it takes the file's size instead and reads every page there.
    """
    data = bytearray(source.read_bytes())
    if len(data) < 100 or not data.startswith(b"SQLite format 3\x00"):
        raise SalvageError(f"{source}: not a sqlite3 file, or its header is damaged")
    (page_size,) = struct.unpack_from(">H", data, 16)
    page_size = 65536 if page_size == 1 else page_size
    data[28:32] = bytes(4)  # in-header database size: unknown
    copy.write_bytes(bytes(data[: len(data) - len(data) % page_size]))


def _salvage_sqlite(source: Path, target: Path) -> str:
    readable = target.with_name(f".{target.name}.damaged")
    _readable_copy(source, readable)
    damaged = sqlite3.connect(f"file:{readable}?mode=ro&immutable=1", uri=True)
    rescued = sqlite3.connect(target)
    try:
        tables = damaged.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
        if not any(name == "messages" for name, _ in tables):
            raise SalvageError(f"{source}: no messages table left to read")
        for name, sql in tables:
            rescued.execute(sql)
            if name != "messages":
                rows = damaged.execute(f"SELECT * FROM {name}").fetchall()
                if rows:
                    rescued.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)
        kept = 0
        cursor = damaged.execute("SELECT * FROM messages ORDER BY id")
        try:
            for row in cursor:
                rescued.execute(f"INSERT INTO messages VALUES ({', '.join('?' * len(row))})", row)
                kept += 1
        except sqlite3.DatabaseError:
            pass  # the first row past the damage: everything before it is kept
        rescued.commit()
    except sqlite3.DatabaseError as err:
        raise SalvageError(f"{source}: {err}") from err
    finally:
        damaged.close()
        rescued.close()
        readable.unlink()
    return f"kept its first {kept} message rows"
