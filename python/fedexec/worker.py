"""``python -m fedexec.worker [flags]``: a fedexec worker from the installed
package.

It runs the ``fedexec worker`` program shipped inside the package (in its
place: the same process id, signals and exit code), so every flag of
``fedexec worker --help`` applies, for example::

    python -m fedexec.worker --port 8000 --threads 4

The worker prints ``listening on HOST:PORT`` once it serves; Ctrl-C or
SIGTERM stops it.
"""

from __future__ import annotations

import os
import pathlib
import sys
from typing import List, Optional

__all__ = ["binary", "main"]


def binary() -> pathlib.Path:
    """The path of the fedexec program shipped with the package
    ($FEDEXEC_BIN overrides it)."""
    override = os.environ.get("FEDEXEC_BIN")
    if override:
        return pathlib.Path(override)
    # Not resolved: in a build tree this module is a link beside bin/.
    return pathlib.Path(__file__).parent / "bin" / "fedexec"


def main(argv: Optional[List[str]] = None) -> None:
    """Replaces this process with ``fedexec worker ARGV`` (never returns)."""
    args = sys.argv[1:] if argv is None else list(argv)
    program = str(binary())
    if not os.access(program, os.X_OK):
        sys.exit(f"fedexec.worker: the fedexec program is missing at "
                 f"{program} (reinstall the package, or set FEDEXEC_BIN)")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(program, [program, "worker", *args])


if __name__ == "__main__":
    main()
