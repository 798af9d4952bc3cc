"""Worker requests and facecomp runs that a host's UI loop polls instead of waiting on (Fusion's UI timer drives
them: the UI stays responsive while the worker renders). Stdlib-only (Python 3.7+); part of host_kit, beside
client.py whose WorkerClient they use.
"""

import collections
import contextlib
import queue
import subprocess
import threading
import time

from host_kit.client import _EOF, _NO_WINDOW, FacecompHostError, WorkerDied, WorkerError, WorkerTimeout, _lines


class PendingRequest(object):
    """One request to a WorkerClient sent without waiting for its answer: a host's UI loop calls ``poll()`` between
    its own events (Fusion's UI timer), so the UI stays responsive while the worker renders.

    Same rules as ``WorkerClient.request``: the worker is held for this request until its answer; silence longer
    than ``timeout`` (progress restarts the clock) kills the worker and ends the request with WorkerTimeout;
    ``cancel()`` asks the worker to stop (it answers with a 'cancelled' error at its next frame).
    """

    def __init__(self, worker, op, timeout=30.0, **params):
        if worker.proc is None:
            worker.start()
        if not worker._lock.acquire(timeout=1.0):
            raise FacecompHostError("the facecomp worker is busy with another request")
        self.worker, self.op, self.timeout = worker, op, timeout
        self.finished, self.result, self.error = False, None, None
        self._cancel_sent = False
        try:
            if not worker.alive:
                raise worker._died()
            worker._next_id += 1
            self.id = worker._next_id
            message = dict(params)
            message.update(id=self.id, op=op)
            worker._send(message)
        except BaseException:
            worker._lock.release()
            raise
        self.deadline = time.monotonic() + timeout

    def cancel(self):
        """Ask the worker to cancel this request (once; no effect after the answer)."""
        if not self.finished and not self._cancel_sent:
            self._cancel_sent = True
            try:
                self.worker._send({"id": "cancel-{}".format(self.id), "op": "cancel", "target": self.id})
            except WorkerDied as exc:
                self._end(error=exc)

    def stop(self, why="stopped before the worker answered"):
        """End the request now: the worker is killed (the next request starts a fresh one)."""
        if not self.finished:
            self.worker.kill()
            self._end(error=WorkerError("facecomp {}: {}".format(self.op, why), kind="cancelled"))

    def poll(self, wait=0.05):
        """Handle what the worker said since the last call, waiting at most ``wait`` seconds for the first message
        (the wait also gives the worker's reader thread its turn); returns the progress messages received. When the
        answer has come, ``finished`` is True and ``result`` or ``error`` (a FacecompHostError) is set."""
        progress = []
        while not self.finished:
            try:
                msg = self.worker._messages.get(timeout=wait) if wait > 0 else self.worker._messages.get_nowait()
            except queue.Empty:
                if time.monotonic() > self.deadline:
                    self.worker.kill()
                    self._end(error=WorkerTimeout("facecomp worker gave no answer to '{}' in {:g} s; it was stopped"
                                                  .format(self.op, self.timeout)))
                break
            wait = 0
            if msg is _EOF:
                self._end(error=self.worker._died())
            elif isinstance(msg, dict) and msg.get("id") == self.id:
                kind = msg.get("type")
                if kind == "progress":
                    self.deadline = time.monotonic() + self.timeout
                    progress.append(msg)
                elif kind == "error":
                    self._end(error=WorkerError(msg.get("error", "unknown error"), msg.get("kind", "failed"),
                                                msg.get("path"), msg.get("frame")))
                else:
                    self._end(result=msg)
        return progress

    def _end(self, result=None, error=None):
        if not self.finished:
            self.finished, self.result, self.error = True, result, error
            self.worker._lock.release()


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
