"""What Podman's relabel of a big data directory costs per file, measured without SELinux.

A volume with `:Z` (or `:z`, the first time) makes Podman relabel the directory when the
container starts: go-selinux's recursive Chcon walks the tree with filepath.WalkDir (one
goroutine, entry types from the directory listing, no stat) and hands every entry to
2 x NumCPU worker goroutines, each calling lsetxattr("security.selinux", label) on it; the
top directory is labelled last. This script builds trees shaped like the stack's big data
directories in a scratch directory and measures, in one run:

1. the walk alone (recursive os.scandir, entry types from the listing, as WalkDir does);
2. the walk plus an lstat per entry (what a walk that stats costs, for comparison);
3. the walk plus lsetxattr per entry, one thread;
4. the walk plus lsetxattr per entry on 2 x cores threads fed by the walking thread (the
   syscall releases the GIL; paths go to the threads in batches, see BATCH);
5. the same relabel on a few thousand empty files and on as many files holding real data,
   to show the cost is per entry, not per byte.

Each relabel writes a label whose categories differ from the ones the files carry, as a
private label's new categories at each start do, and afterwards every entry is read back
and must carry it (the run fails otherwise). Figures are medians of --repeat runs, after
a first labelling pass (printed, outside the medians) that also warms the page cache: the
cache is not dropped (that needs root and slows every other process on a shared machine),
so a cold cache on a real host is slower.

What it does not measure: this machine has no SELinux, so the kernel stores the xattr and
nothing else. On an enforcing host each setxattr also asks the security server whether
the change is allowed and updates the inode's security state, so the figures are a lower
bound. It does not run Podman, and Python's per-entry overhead is in every figure.

Trees (counts printed by the run):
a. a Prometheus / Mimir TSDB: --blocks block directories (chunks/000001.., index,
   meta.json, tombstones; sparse files of realistic sizes), wal/ segments and a
   checkpoint, chunks_head/;
b. Loki's filesystem chunk store with schema v12+ keys (<tenant>/<stream fingerprint>/
   <from>:<through>:<checksum>): one file per chunk, one directory per stream, --files
   chunk files over --streams directories.

Run: python3 bench/relabel.py [--dir /var/tmp] [--files 200000] [--streams 500]
     [--blocks 200] [--repeat 3] [--size-files 2000] [--size-kib 256]
Takes about 2 to 2.5 min on a busy 2-core machine with the defaults (2026-12-07), most
of it creating and removing the files; writes
--size-files x --size-kib of real data (500 MiB by default) and removes everything.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import queue
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

XATTR = "security.selinux"
# Podman's private label: container_file_t with two categories of the container's own.
LABEL = "system_u:object_r:container_file_t:s0:c{},c{}"
# Paths handed to a worker thread at once: one queue operation per path costs Python more
# than the syscall it feeds, which would measure the queue instead of the relabel.
BATCH = 64
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MIB = 1 << 20


def ulid(number: int) -> str:
    """A block directory name shaped like a ULID (26 Crockford base32 characters)."""
    digits = []
    for _position in range(26):
        number, digit = divmod(number, 32)
        digits.append(CROCKFORD[digit])
    return "01J" + "".join(reversed(digits))[3:]


def sparse(path: Path, size: int) -> None:
    """A file of the given size without data blocks: relabel cost is per inode."""
    with path.open("xb") as handle:
        handle.truncate(size)


def build_tsdb(root: Path, blocks: int, chunks_per_block: int, wal_segments: int) -> int:
    """Prometheus' (and a Mimir ingester's) TSDB directory; returns its entry count."""
    root.mkdir(parents=True)
    for block in range(blocks):
        directory = root / ulid(block + 1)
        (directory / "chunks").mkdir(parents=True)
        for chunk in range(1, chunks_per_block + 1):
            sparse(directory / "chunks" / f"{chunk:06d}", 512 * MIB)
        sparse(directory / "index", 64 * MIB)
        (directory / "meta.json").write_text('{"version": 1}\n')
        sparse(directory / "tombstones", 9)
    wal = root / "wal"
    wal.mkdir()
    for segment in range(wal_segments):
        sparse(wal / f"{segment:08d}", 128 * MIB)
    checkpoint = wal / f"checkpoint.{wal_segments - 2:08d}"
    checkpoint.mkdir()
    sparse(checkpoint / "00000000", 32 * MIB)
    head = root / "chunks_head"
    head.mkdir()
    for chunk in range(1, 4):
        sparse(head / f"{chunk:06d}", 128 * MIB)
    sparse(root / "queries.active", 20001)
    sparse(root / "lock", 0)
    return count(root)


def build_loki(root: Path, files: int, streams: int, workers: int) -> int:
    """Loki's filesystem chunk store, one tenant; returns its entry count."""
    tenant = root / "chunks" / "fake"
    tenant.mkdir(parents=True)
    per_stream, extra = divmod(files, streams)
    start = 0x18F00000000

    def stream_directory(stream: int) -> None:
        directory = tenant / f"{0x9E3779B97F4A7C15 * (stream + 1) % (1 << 64):x}"
        directory.mkdir()
        for chunk in range(per_stream + (1 if stream < extra else 0)):
            begin = start + chunk * 7_200_000
            sparse(directory / f"{begin:x}:{begin + 7_199_999:x}:{stream * 131 + chunk:x}",
                   1_500_000)

    # Creating files waits on the journal when the machine is busy; threads overlap that
    # wait. Only the build runs in threads, none of it is measured.
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(stream_directory, range(streams)))
    index = root / "tsdb-shipper-active" / "uploader"
    index.mkdir(parents=True)
    sparse(index / "name", 0)
    return count(root)


def entries(root: Path) -> Iterator[str]:
    """Every path under root, root last (as the relabel does), types from the listing."""
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as listing:
            for entry in listing:
                yield entry.path
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    yield str(root)


def count(root: Path) -> int:
    return sum(1 for _path in entries(root))


def walk(root: Path, label: bytes) -> int:
    del label  # the measures share one signature; the walks write nothing
    return count(root)


def walk_lstat(root: Path, label: bytes) -> int:
    del label
    total = 0
    for path in entries(root):
        os.lstat(path)
        total += 1
    return total


def relabel_serial(root: Path, label: bytes) -> int:
    total = 0
    for path in entries(root):
        os.setxattr(path, XATTR, label, follow_symlinks=False)
        total += 1
    return total


def relabel_threads(root: Path, label: bytes, workers: int) -> int:
    """One walking thread feeding `workers` threads, as pwalkdir does with goroutines."""
    work: queue.Queue[list[str] | None] = queue.Queue(maxsize=2 * workers)
    errors: list[BaseException] = []

    def worker() -> None:
        while (batch := work.get()) is not None:
            try:
                for path in batch:
                    os.setxattr(path, XATTR, label, follow_symlinks=False)
            except OSError as error:
                errors.append(error)

    threads = [threading.Thread(target=worker) for _worker in range(workers)]
    for thread in threads:
        thread.start()
    total = 0
    batch: list[str] = []
    top = str(root)
    try:
        for path in entries(root):
            if path == top:
                continue
            batch.append(path)
            if len(batch) == BATCH:
                work.put(batch)
                total += len(batch)
                batch = []
        work.put(batch)
        total += len(batch)
    finally:
        for _thread in threads:
            work.put(None)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    os.setxattr(top, XATTR, label, follow_symlinks=False)
    return total + 1


def check_labels(root: Path, label: bytes) -> int:
    """Entries that do not carry the label: 0, or the measure did not do its work."""
    return sum(1 for path in entries(root)
               if os.getxattr(path, XATTR, follow_symlinks=False) != label)


class Labels:
    """A new pair of categories for every relabel, as a private label gets at each start."""

    def __init__(self) -> None:
        self.pair = 0

    def next(self) -> bytes:
        self.pair += 1
        return LABEL.format(2 * self.pair, 2 * self.pair + 1).encode()


def measure(name: str, action: Callable[[Path, bytes], int], root: Path, repeat: int,
            labels: Labels, expected: int, relabels: bool) -> float:
    """Median seconds of `repeat` runs; exits when a run missed entries or labels."""
    times = []
    for _run in range(repeat):
        label = labels.next()
        started = time.perf_counter()
        seen = action(root, label)
        times.append(time.perf_counter() - started)
        if seen != expected:
            sys.exit(f"{name}: visited {seen} entries, the tree has {expected}")
        if relabels and (missing := check_labels(root, label)):
            sys.exit(f"{name}: {missing} of {expected} entries do not carry {label!r}")
    return statistics.median(times)


def filesystem(path: Path) -> str:
    """Type and mount point of the filesystem holding path (longest mount prefix)."""
    resolved = str(path.resolve())
    best = ("?", "")
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        mount = fields[1].replace("\\040", " ")
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best[1]):
            best = (fields[2], mount)
    return f"{best[0]} (mounted on {best[1]})"


def machine() -> str:
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return (f"{platform.node()}: {os.cpu_count()} cores, {memory_kib // 1024 // 1024} GiB, "
            f"{platform.platform()}, load {os.getloadavg()[0]:.2f} at start")


def row(name: str, seconds: float, total: int, walk_seconds: float) -> str:
    per_entry = seconds / total * 1e6
    return (f"  {name:<44} {seconds:8.3f} s {per_entry:7.2f} us/entry "
            f"{seconds / walk_seconds:6.1f} x walk  {per_entry:7.1f} s per 1M entries")


def size_check(scratch: Path, files: int, kib: int, repeat: int, labels: Labels) -> list[str]:
    """Serial relabel of empty files against files holding kib KiB of real data each."""
    lines = []
    payload = b"\x5a" * (kib * 1024)
    for name, data in (("empty", b""), (f"{kib} KiB written", payload)):
        root = scratch / f"size-{len(data)}"
        root.mkdir()
        for number in range(files):
            (root / f"{number:06d}").write_bytes(data)
        count(root)
        seconds = measure(f"size {name}", relabel_serial, root, repeat, labels, files + 1,
                          True)
        lines.append(f"  files {name:<38} {seconds:8.3f} s "
                     f"{seconds / (files + 1) * 1e6:7.2f} us/entry")
        shutil.rmtree(root)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"),
                        help="filesystem to measure on: a scratch directory is made in it "
                             "and removed at the end (default /var/tmp)")
    parser.add_argument("--files", type=int, default=200_000,
                        help="Loki chunk files (default 200000)")
    parser.add_argument("--streams", type=int, default=500,
                        help="Loki stream directories they spread over (default 500)")
    parser.add_argument("--blocks", type=int, default=200,
                        help="TSDB block directories (default 200)")
    parser.add_argument("--chunks-per-block", type=int, default=8)
    parser.add_argument("--wal-segments", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure (median)")
    parser.add_argument("--size-files", type=int, default=2000,
                        help="files in the per-byte check (default 2000)")
    parser.add_argument("--size-kib", type=int, default=256,
                        help="KiB written to each file of the per-byte check (default 256)")
    args = parser.parse_args()
    for option in ("files", "streams", "blocks", "chunks_per_block", "repeat", "size_files"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1")
    if args.wal_segments < 2:
        parser.error("--wal-segments must be at least 2")
    if not args.dir.is_dir():
        parser.error(f"--dir {args.dir}: not a directory")

    workers = 2 * (os.cpu_count() or 1)
    labels = Labels()
    print(f"lgtm.stack relabel benchmark, {datetime.date.today()}", flush=True)
    print(machine(), flush=True)
    print(f"scratch filesystem: {filesystem(args.dir)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="lgtm-relabel-", dir=args.dir) as tmp:
        scratch = Path(tmp)
        started = time.perf_counter()
        tsdb = build_tsdb(scratch / "data" / "prometheus", args.blocks, args.chunks_per_block,
                          args.wal_segments)
        loki = build_loki(scratch / "data" / "loki", args.files, args.streams, workers)
        root = scratch / "data"
        total = count(root)
        print(f"trees: TSDB {tsdb} entries ({args.blocks} blocks x {args.chunks_per_block} "
              f"chunk files, {args.wal_segments} WAL segments); Loki {loki} entries "
              f"({args.files} chunk files in {args.streams} stream directories); "
              f"{total} entries in all, built in {time.perf_counter() - started:.1f} s",
              flush=True)
        # The files carry a label before the first measure, as on an SELinux host, where
        # every new file gets one: each relabel then replaces an xattr.
        first = measure("first label", relabel_serial, root, 1, labels, total, True)
        print(f"first label of the fresh files (no xattr before, 1 thread, warms the page "
              f"cache): {first:.3f} s", flush=True)
        print(f"median of {args.repeat} runs each, page cache warm; ratio to the walk alone; "
              f"extrapolated linearly to 1M entries:", flush=True)
        walk_seconds = measure("walk", walk, root, args.repeat, labels, total, False)
        print(row("walk (scandir, types from the listing)", walk_seconds, total, walk_seconds),
              flush=True)
        results = [
            ("walk + lstat per entry", walk_lstat, False),
            ("walk + lsetxattr, 1 thread", relabel_serial, True),
            (f"walk + lsetxattr, {workers} threads (2 x cores)",
             lambda path, label: relabel_threads(path, label, workers), True),
        ]
        for name, action, relabels in results:
            seconds = measure(name, action, root, args.repeat, labels, total, relabels)
            print(row(name, seconds, total, walk_seconds), flush=True)
        print(f"per-byte check, lsetxattr 1 thread, {args.size_files} files each:", flush=True)
        for line in size_check(scratch, args.size_files, args.size_kib, args.repeat, labels):
            print(line, flush=True)
        print(f"every relabel verified: all {total} entries read back with its label; "
              f"total {time.perf_counter() - started:.1f} s, load "
              f"{os.getloadavg()[0]:.2f} at the end", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
