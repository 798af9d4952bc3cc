"""Talk to facecomp from a host: find the executable, run `facecomp worker` and `facecomp <verb>`.

Host-agnostic and stdlib-only (Python 3.7+, runs inside Nuke and Resolve; part of host_kit). Nothing here blocks without a limit:
every wait has a timeout, a worker that stops answering is killed and reported, and a worker that
dies is reported with the last lines it wrote to stderr. The protocol is described in docs/hosts.md.
"""

import collections
import contextlib
import json
import os
import queue
import shlex
import shutil
import subprocess
import threading
import time

ENV_EXE = "FACECOMP_EXE"
_EOF = object()
_NO_WINDOW = 0x08000000 if os.name == "nt" else 0  # CREATE_NO_WINDOW: no console flashing up on Windows


class FacecompHostError(RuntimeError):
    """Anything that went wrong between the host and facecomp; the message is one line for the node."""


class WorkerError(FacecompHostError):
    """The worker answered a request with an error (bad input, missing file, failed frame)."""

    def __init__(self, message, kind="failed", path=None, frame=None):
        super(WorkerError, self).__init__(message)
        self.kind = kind
        self.path = path
        self.frame = frame


class WorkerDied(FacecompHostError):
    """The worker process ended (crashed, was killed, or could not start)."""


class WorkerTimeout(FacecompHostError):
    """The worker gave no sign of life within the time allowed; it has been stopped."""


def check_xseg_model(path):
    """``path`` when it names an XSeg model the engine takes (an exported XSeg .onnx or an XSeg model folder:
    engine.swap.pipeline.xseg_model_path), None when unset; else FacecompHostError in one line, before any request."""
    if not path:
        return None
    if not os.path.exists(path):
        raise FacecompHostError("{}: no such XSeg model (an exported XSeg .onnx or an XSeg model folder)".format(path))
    return path


def facecomp_command(exe=None):
    """The command that runs facecomp: the given path, else $FACECOMP_EXE, else `facecomp` on PATH.

    A value may also be a command line (``/opt/fc/.venv/bin/python -m engine``).
    """
    for value, origin in ((exe, "the node's facecomp knob"), (os.environ.get(ENV_EXE), ENV_EXE)):
        value = (value or "").strip()
        if not value:
            continue
        if os.path.isfile(value):
            return [value]
        parts = shlex.split(value, posix=os.name != "nt")
        if parts and (os.path.isfile(parts[0]) or shutil.which(parts[0])):
            return parts
        raise FacecompHostError("facecomp executable not found: {} ({})".format(value, origin))
    found = shutil.which("facecomp")
    if found:
        return [found]
    raise FacecompHostError("facecomp executable not found: set FACECOMP_EXE or the node's facecomp knob")


def _lines(stream, sink):
    for raw in iter(stream.readline, b""):
        sink(raw.decode("utf-8", "replace").rstrip("\r\n"))


class WorkerClient(object):
    """One `facecomp worker` process and its JSON-lines conversation (one request at a time)."""

    def __init__(self, command, env=None, start_timeout=120.0):
        self.command = list(command)
        self.env = env
        self.start_timeout = start_timeout
        self.proc = None
        self.info = {}
        self._messages = queue.Queue()
        self._stderr = collections.deque(maxlen=40)
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._next_id = 0

    # ---- process
    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def start(self):
        """Start the process and check it is a facecomp worker (hello); returns the hello reply."""
        with self._start_lock:
            if self.alive:
                return self.info
            return self._start()

    def _start(self):
        try:
            self.proc = subprocess.Popen(self.command + ["worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, env=self.env, creationflags=_NO_WINDOW)
        except OSError as exc:
            raise WorkerDied("cannot start facecomp worker ({}): {}".format(" ".join(self.command), exc)) from None
        self._messages = queue.Queue()
        self._stderr.clear()
        proc, messages = self.proc, self._messages

        def read_stdout():
            def sink(line):
                try:
                    messages.put(json.loads(line))
                except ValueError:
                    self._stderr.append(line)
            _lines(proc.stdout, sink)
            messages.put(_EOF)

        threading.Thread(target=read_stdout, name="facecomp-stdout", daemon=True).start()
        threading.Thread(target=_lines, args=(proc.stderr, self._stderr.append), name="facecomp-stderr",
                         daemon=True).start()
        self.info = self.request("hello", timeout=self.start_timeout)
        return self.info

    def stderr_tail(self, n=3):
        lines = [line for line in list(self._stderr) if line.strip()]
        return " | ".join(lines[-n:])

    def kill(self):
        """Stop the process now (used after a timeout, or when the host quits)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)

    def close(self, timeout=5.0):
        """Ask the worker to stop; kill it if it does not within ``timeout`` seconds, or at once when a
        request is running (its caller then gets WorkerDied)."""
        if not self.alive:
            return
        if not self._lock.acquire(timeout=0.5):
            self.kill()
            return
        self._lock.release()
        proc = self.proc
        try:
            self.request("shutdown", timeout=timeout)
            if proc is not None:
                proc.wait(timeout)
        except (FacecompHostError, subprocess.TimeoutExpired):
            self.kill()

    # ---- requests
    def _send(self, message):
        stdin = self.proc.stdin if self.proc is not None else None
        try:
            if stdin is None:
                raise OSError("no worker process")
            stdin.write((json.dumps(message) + "\n").encode("utf-8"))
            stdin.flush()
        except (OSError, ValueError):
            raise self._died() from None

    def _died(self):
        code = None
        if self.proc is not None:
            try:
                code = self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
                code = self.proc.returncode
        tail = self.stderr_tail()
        return WorkerDied("facecomp worker exited (code {}){}".format(code, ": " + tail if tail else ""))

    def request(self, op, timeout=30.0, on_progress=None, should_cancel=None, **params):
        """Send one request and wait for its result (a PendingRequest polled until its answer); ``timeout`` is the
        longest silence allowed.

        Progress messages go to ``on_progress(message)`` and restart the clock. If ``should_cancel()``
        turns true the worker is asked to cancel (it answers with a 'cancelled' error).
        """
        pending = PendingRequest(self, op, timeout, busy_wait=None, **params)
        try:
            while not pending.finished:
                if should_cancel is not None and should_cancel():
                    pending.cancel()
                for message in pending.poll(wait=0.25):
                    if on_progress is not None:
                        on_progress(message)
        finally:
            pending._end()  # a raising callback leaves the worker free for the next request
        if pending.error is not None:
            raise pending.error
        return pending.result

    def ping(self, timeout=10.0):
        return self.request("ping", timeout=timeout)

    def load(self, model, provider=None, timeout=300.0, **extra):
        """Load a model (extra: xseg_model, face_type); the worker keeps it for the following renders."""
        return self.request("load", timeout=timeout, model=model, provider=provider, **extra)

    def render(self, frame_timeout=120.0, on_progress=None, should_cancel=None, **params):
        """Render frames (plate, frames, out, model, provider, overrides, settings, track, working_space, faces,
        passes, exr_layout, xseg_model, face_type); progress messages arrive per frame."""
        return self.request("render", timeout=frame_timeout, on_progress=on_progress,
                            should_cancel=should_cancel, **params)


class PendingRequest(object):
    """One request to a WorkerClient sent without waiting for its answer: a host's UI loop calls ``poll()`` between
    its own events (Fusion's UI timer), so the UI stays responsive while the worker renders.

    ``WorkerClient.request`` is this request waited on. The worker is held for this request until its answer; silence longer
    than ``timeout`` (progress restarts the clock) kills the worker and ends the request with WorkerTimeout;
    ``cancel()`` asks the worker to stop (it answers with a 'cancelled' error at its next frame).
    """

    def __init__(self, worker, op, timeout=30.0, busy_wait=1.0, **params):
        """``busy_wait``: seconds to wait for a request of another thread to end (None: as long as it takes)."""
        if worker.proc is None:
            worker.start()
        if not (worker._lock.acquire() if busy_wait is None else worker._lock.acquire(timeout=busy_wait)):
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


class WorkerPool(object):
    """One warm worker per facecomp command, shared by every node of a host session."""

    def __init__(self):
        self._workers = {}
        self._lock = threading.Lock()

    def get(self, command, start_timeout=120.0):
        key = tuple(command)
        with self._lock:
            worker = self._workers.get(key)
            if worker is None or (worker.proc is not None and not worker.alive):
                worker = WorkerClient(command, start_timeout=start_timeout)
                self._workers[key] = worker
        worker.start()
        return worker

    def workers(self):
        with self._lock:
            return list(self._workers.values())

    def close_all(self, timeout=5.0):
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.close(timeout)


def run_facecomp(command, args, timeout=3600.0, on_line=None, should_cancel=None, env=None):
    """Run ``facecomp <args>`` to the end (track, render...); returns its output lines.

    Raises FacecompHostError with facecomp's own last error line when it fails, times out or is cancelled.
    """
    try:
        proc = subprocess.Popen(list(command) + [str(a) for a in args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, creationflags=_NO_WINDOW)
    except OSError as exc:
        raise FacecompHostError("cannot run facecomp ({}): {}".format(" ".join(command), exc)) from None
    lines = collections.deque(maxlen=200)

    def sink(line):
        lines.append(line)
        if on_line is not None:
            on_line(line)

    reader = threading.Thread(target=_lines, args=(proc.stdout, sink), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline or (should_cancel is not None and should_cancel()):
            proc.kill()
            proc.wait()
            why = "cancelled" if time.monotonic() <= deadline else "timed out after {:g} s".format(timeout)
            raise FacecompHostError("facecomp {} {}".format(args[0], why))
        time.sleep(0.05)
    reader.join(5)
    if proc.returncode:
        last = [line for line in lines if line.strip()][-1:] or ["exit code {}".format(proc.returncode)]
        raise FacecompHostError(last[0])
    return list(lines)
