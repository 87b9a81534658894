"""The launcher run between the server and bubblewrap: join the run's cgroups, set rlimits, exec.

Run as `python -I -S launch.py SPEC`, with the stdlib only, so that the limits apply before the
first instruction of repository code and no thread of the server's is involved (no preexec_fn).
"""

import json
import os
import resource
import sys


def main() -> None:
    spec = json.loads(sys.argv[1])
    pid = str(os.getpid())
    for procs in spec["cgroup_procs"]:
        with open(procs, "w") as handle:
            handle.write(pid)
    for name, value in spec["rlimits"].items():
        limit = getattr(resource, f"RLIMIT_{name}")
        resource.setrlimit(limit, (value, value))
    argv = spec["argv"]
    os.execve(argv[0], argv, dict(os.environ))  # noqa: S606 - argv is built by the sandbox


if __name__ == "__main__":
    main()
