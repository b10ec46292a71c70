"""The slices of a sliced job started together, as one measured process (``run_measured`` waits for it; the slices'
CPU is counted with it, because this process waits for each of them).

    python -m benchkit.slices RECORD_PREFIX LOG_PREFIX -- ansible-playbook ... -i INVENTORY1 ... -- ... -i INVENTORY2

Each ``--``-separated command is one slice: started at the same time, with ``MAILOPS_BENCH_RECORD`` set to
``RECORD_PREFIX<n>.json`` (the bench_recorder callback's task record of slice n) and its output in
``LOG_PREFIX<n>.log``. Exit code: the largest of the slices'.
"""

from __future__ import annotations

import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    record_prefix, log_prefix, rest = argv[0], argv[1], argv[2:]
    commands, current = [], None
    for arg in rest:
        if arg == "--":
            current = []
            commands.append(current)
        elif current is not None:
            current.append(arg)
    processes = []
    for number, command in enumerate(commands, 1):
        env = dict(os.environ, MAILOPS_BENCH_RECORD=f"{record_prefix}{number}.json")
        log = open(f"{log_prefix}{number}.log", "wb")
        processes.append((subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL), log))
    codes = []
    for process, log in processes:
        codes.append(process.wait())
        log.close()
    return max(codes or [1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
