"""facecomp runs and calls that a host's UI loop polls instead of waiting on (Fusion's UI timer drives them: the
UI stays responsive while facecomp works), like client.PendingRequest for worker requests. Stdlib-only (Python
3.7+); part of host_kit.
"""

import collections
import contextlib
import subprocess
import threading
import time

from host_kit.client import _NO_WINDOW, FacecompHostError, WorkerError, _lines


class PendingCommand(object):
    """``facecomp <args>`` (track, render...) started without waiting, polled like a PendingRequest: ``poll()`` gives
    no progress messages, ``finished`` turns True when the process ends, then ``result`` holds its output lines or
    ``error`` a FacecompHostError with facecomp's last line. ``cancel()`` stops the process."""

    def __init__(self, command, args, timeout=3600.0, env=None):
        self.args = [str(a) for a in args]
        self.finished, self.result, self.error = False, None, None
        self._lines = collections.deque(maxlen=200)
        self._cancelled = False
        try:
            self.proc = subprocess.Popen(list(command) + self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, env=env, creationflags=_NO_WINDOW)
        except OSError as exc:
            raise FacecompHostError("cannot run facecomp ({}): {}".format(" ".join(command), exc)) from None
        self._reader = threading.Thread(target=_lines, args=(self.proc.stdout, self._lines.append), daemon=True)
        self._reader.start()
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout

    def cancel(self):
        if not self.finished:
            self._cancelled = True
            self.proc.kill()

    def stop(self, why="stopped"):
        """End the run now (the process is killed)."""
        if not self.finished:
            self.proc.kill()
            self._end(WorkerError("facecomp {} {}".format(self.args[0], why), kind="cancelled"))

    def poll(self, wait=0.05):
        if self.finished:
            return []
        if self.proc.poll() is None and time.monotonic() > self.deadline:
            self.proc.kill()
            self._end(FacecompHostError("facecomp {} timed out after {:g} s".format(self.args[0], self.timeout)))
            return []
        try:
            self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            return []
        self._reader.join(5)
        if self._cancelled:
            self._end(WorkerError("facecomp {} cancelled".format(self.args[0]), kind="cancelled"))
        elif self.proc.returncode:
            last = [line for line in self._lines if line.strip()][-1:] or ["exit code {}".format(self.proc.returncode)]
            self._end(FacecompHostError(last[0]))
        else:
            self.finished, self.result = True, list(self._lines)
        return []

    def _end(self, error):
        self.finished, self.error = True, error
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


class PendingCall(object):
    """A blocking call (starting the worker: process start and hello) run in a thread and polled like a
    PendingRequest; ``cancel()``/``stop()`` run ``on_cancel`` (kill the worker), which ends the call with its error."""

    def __init__(self, call, on_cancel=None):
        self.finished, self.result, self.error = False, None, None
        self._on_cancel = on_cancel
        self._outcome = []
        self._thread = threading.Thread(target=self._run, args=(call,), name="facecomp-call", daemon=True)
        self._thread.start()

    def _run(self, call):
        try:
            self._outcome.append((call(), None))
        except FacecompHostError as exc:
            self._outcome.append((None, exc))

    def cancel(self):
        if not self.finished and self._on_cancel is not None:
            self._on_cancel()

    def stop(self, why="stopped"):
        self.cancel()
        if not self.finished:
            self.finished, self.error = True, WorkerError("facecomp start {}".format(why), kind="cancelled")

    def poll(self, wait=0.05):
        self._thread.join(wait)  # the wait lets the thread run (Python threads get little time beside a UI loop)
        if not self.finished and self._outcome:
            self.finished = True
            self.result, self.error = self._outcome[0]
        return []
