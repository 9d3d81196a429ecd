"""Which threads' glibc arenas hold how much memory, in a running process: to tell whose native
memory grows when RSS does and Python's own allocations (tracemalloc) do not.

    python benchmarks/diagnose/arenas_by_thread.py PID

Needs py-spy (`pip install py-spy`: the threads' names), gdb and glibc's debug symbols
(`apt-get install gdb libc6-dbg`: each thread's `thread_arena`), and root or ptrace rights. Both
tools stop the process for a moment, so don't use it during a run whose latencies count.

Each 64 MiB-aligned anonymous mapping is one heap of a thread arena; its first word (`heap_info.ar_ptr`)
names the arena it belongs to, so an arena's later heaps add to the first. Threads share arenas, and
glibc can hand a thread another arena, so compare two readings of the same run, not two runs.
"""

import collections
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
from soak import ARENA_ALIGN as HEAP
from soak import mappings_rss_kb


def thread_names(pid: str) -> dict[int, str]:
    command = ["py-spy", "dump", "--pid", pid]
    dump = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603 - tools on PATH
    found = (re.match(r'Thread (0x[0-9A-Fa-f]+|\d+) \(\w+\): "(.*)"', line) for line in dump.splitlines())
    return {int(m.group(1), 0): m.group(2) for m in found if m}


def thread_arenas(pid: str) -> dict[int, int]:
    command = ["gdb", "-q", "-batch", "-p", pid, "-ex", "thread apply all p (void*)thread_arena"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    arenas: dict[int, int] = {}
    lwp = None
    for line in output.splitlines():
        if thread := re.search(r"\(LWP (\d+)\)", line):
            lwp = int(thread.group(1))
        elif (value := re.match(r"\$\d+ = \(void \*\) (0x[0-9a-f]+)", line)) and lwp is not None:
            arenas[lwp], lwp = int(value.group(1), 16), None
    return arenas


def arena_rss_kb(pid: str) -> dict[int | str, int]:
    """RSS of each arena (by its first heap's address) and of the main heap ("heap")."""
    arenas: dict[int | str, int] = collections.Counter()
    with open(f"/proc/{pid}/mem", "rb") as memory:
        for start, name, kb in mappings_rss_kb(pid):
            if name == "[heap]":
                arenas["heap"] += kb
            elif not name and start % HEAP == 0:
                memory.seek(start)
                arenas[int.from_bytes(memory.read(8), "little") & ~(HEAP - 1)] += kb
    return arenas


def main() -> None:
    pid = sys.argv[1]
    names, arenas, rss = thread_names(pid), thread_arenas(pid), arena_rss_kb(pid)
    users = collections.defaultdict(list)
    for lwp, arena in arenas.items():
        base = arena & ~(HEAP - 1)
        users[base if base in rss else "heap"].append(names.get(lwp, f"native thread {lwp}"))
    for arena, kb in sorted(rss.items(), key=lambda item: -item[1]):
        label = "main heap" if arena == "heap" else hex(int(arena))
        print(f"{kb / 1024:8.1f} MB  {label}: {', '.join(sorted(users.get(arena, [])))}")


if __name__ == "__main__":
    main()
