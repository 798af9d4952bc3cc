"""Every verb stops quietly when the reader of its output goes away (``facecomp ... | head``)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_closed_stdout_is_a_quiet_exit(src_faces):
    proc = subprocess.Popen([sys.executable, "-m", "engine", "faceset", "info", "--json", src_faces],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the verb prints: its first write meets a closed pipe
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert err == "" and code == 141, (code, err)
