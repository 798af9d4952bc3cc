"""`facecomp worker`: a long-lived render process for the host plugins (JSON lines over stdin/stdout).

The worker loads a model once (engine.swap.render.Renderer) and renders frames on request. A reader
thread parses requests and answers ``hello``/``ping``/``cancel`` at once, so a host can tell a busy
worker from a hung one; ``load``/``render``/``shutdown`` run one after another on the main thread.
A bad request or a failed frame is answered with an error message; the worker itself keeps running.
End of input (the host went away) cancels the current render and ends the worker.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from engine import __version__
from engine.errors import FacecompError
from engine.media.frames import format_pattern, is_pattern
from engine.worker import limits, protocol, tables
from engine.worker.protocol import BadRequest, Request

log = logging.getLogger("facecomp.worker")

RendererFactory = Callable[[str, str | None, str | None, str | None], Any]
# FACECOMP_WORKER_PROFILE=1: log (stderr) how long each request and each frame's stages take, and add the
# frame's stage times to its progress message (``timings_ms``; bench/host_roundtrip.py reads them)
PROFILE_ENV = "FACECOMP_WORKER_PROFILE"


def profiling() -> bool:
    """True when the worker logs its per-stage timings (``FACECOMP_WORKER_PROFILE`` set and not 0)."""
    return os.environ.get(PROFILE_ENV, "0") not in ("", "0")


def _profile_line(what: str, timings: dict[str, float]) -> str:
    return f"profile: {what}: " + " ".join(f"{k} {v * 1000:.1f}" for k, v in timings.items()) + " ms"


def default_renderer_factory(model: str, provider: str | None, face_type: str | None,
                             xseg_model: str | None = None) -> Any:
    """D's Renderer: keeps one model (and its XSeg model) loaded for repeated frames."""
    from engine.swap.render import Renderer

    return Renderer(model, provider=provider, face_type=face_type, xseg_model=xseg_model)


def available_providers() -> list[str]:
    """ONNX Runtime's execution providers in this environment (what a ``load`` could use)."""
    try:
        import onnxruntime
    except ImportError:
        return []
    return list(onnxruntime.get_available_providers())


def _providers_of(renderer: Any) -> list[str]:
    """The execution providers the loaded model really runs on."""
    providers = getattr(renderer, "providers", None)
    return list(providers) if providers is not None and not callable(providers) else []


def _model_info(renderer: Any) -> dict[str, Any]:
    """Resolution, face type, kind and morphability of the loaded model (D's FaceSwapModel)."""
    model = getattr(renderer, "model", None)
    face_type = getattr(model, "face_type", None)
    info = {"resolution": getattr(model, "resolution", None),
            "face_type": getattr(face_type, "label", face_type),
            "kind": getattr(model, "kind", None), "morph": getattr(model, "is_morphable", None)}
    return {k: v for k, v in info.items() if isinstance(v, (int, float, str, bool))}


class Worker:
    """Executes requests; every reply goes through ``send`` (thread-safe)."""

    def __init__(self, send: Callable[[dict[str, Any]], None], renderer_factory: RendererFactory | None = None):
        self._send = send
        self._factory = renderer_factory or default_renderer_factory
        self._renderer: Any = None
        self._loaded: tuple[str, str | None, str | None, str | None] | None = None
        self._busy: Any = None
        self._closing = threading.Event()
        self._cancelled: set[Any] = set()
        self._lock = threading.Lock()
        self.profile = profiling()

    # ---- answered at once by the reader thread
    def handle_immediate(self, req: Request) -> None:
        if req.op == "hello":
            self._send(protocol.result(
                req.id, protocol=protocol.PROTOCOL_VERSION, facecomp=__version__, pid=os.getpid(),
                python=sys.version.split()[0], providers_available=available_providers(),
                model=self._loaded[0] if self._loaded else None, providers=_providers_of(self._renderer),
                options=tables.option_tables()))
        elif req.op == "ping":
            self._send(protocol.result(req.id, pong=True, busy=self._busy,
                                       model=self._loaded[0] if self._loaded else None))
        elif req.op == "cancel":
            target = req.get("target", self._busy)
            with self._lock:
                if target is not None:
                    self._cancelled.add(target)
            self._send(protocol.result(req.id, cancelled=target))

    def close(self) -> None:
        """The host went away: stop the current render at the next frame and skip queued ones."""
        self._closing.set()

    def _is_cancelled(self, rid: Any) -> bool:
        with self._lock:
            return self._closing.is_set() or rid in self._cancelled

    # ---- run one after another on the main thread
    def handle_queued(self, req: Request) -> bool:
        """Run one queued request; False once the worker should stop."""
        if req.op == "shutdown":
            self._send(protocol.result(req.id, shutdown=True))
            return False
        if req.op == "render" and self._is_cancelled(req.id):
            self._send(protocol.error(req.id, "cancelled before it started", kind="cancelled"))
            return True
        self._busy = req.id
        req.started = time.perf_counter()
        try:
            if req.op == "load":
                self._send(protocol.result(req.id, **self.load(
                    req.require("model"), req.get("provider"), req.get("face_type"), req.get("xseg_model"))))
            else:
                self._render(req)
        except BadRequest as exc:
            self._send(protocol.error(req.id, str(exc), kind="bad_request"))
        except FacecompError as exc:
            self._send(protocol.error(req.id, str(exc), path=exc.path))
        except Exception as exc:  # noqa: BLE001 - a failing request must never end the worker
            log.error("%s", traceback.format_exc())
            self._send(protocol.error(req.id, f"{type(exc).__name__}: {exc}", kind="internal"))
        finally:
            self._busy = None
            with self._lock:
                self._cancelled.discard(req.id)
        return True

    def load(self, model: str, provider: str | None = None, face_type: str | None = None,
             xseg_model: str | None = None) -> dict[str, Any]:
        """Load (or keep) the model (and XSeg model: an exported .onnx or an XSeg model folder, as
        ``--xseg-model``); reports the execution providers really in use."""
        from engine.export.model_path import resolve_model_path
        from engine.swap.pipeline import xseg_model_path

        path = str(resolve_model_path(Path(model).expanduser()).resolve())  # a training folder: its export
        if not Path(path).is_file():
            raise FacecompError("model file not found", path)
        xseg = str(xseg_model_path(xseg_model)) if xseg_model else None
        provider = None if provider in (None, "", "auto") else provider
        face_type = None if face_type in (None, "", "auto") else face_type
        key = (path, provider, face_type, xseg)
        if self._loaded != key:
            t0 = time.perf_counter()
            renderer = self._factory(path, provider, face_type, xseg)  # the old model stays if this fails
            self._renderer, self._loaded = renderer, key
            log.info("worker: loaded %s in %.2f s on %s", path, time.perf_counter() - t0,
                     ", ".join(_providers_of(self._renderer)) or "?")
        return {"model": path, "providers": _providers_of(self._renderer), **_model_info(self._renderer)}

    def _render(self, req: Request) -> None:
        from engine.swap.passes import check_exr_layout, parse_passes
        from engine.swap.render import load_settings, parse_faces

        plate = str(req.require("plate"))
        out = str(req.require("out"))
        frames = protocol.parse_frames(req.require("frames"))
        if len(frames) > 1 and not is_pattern(out):
            raise BadRequest(f"render: out {out!r} has no frame pattern (%04d or ####) for {len(frames)} frames")
        if req.get("model"):
            _, provider, face_type, xseg = self._loaded or (None, None, None, None)  # unless given: as loaded before
            self.load(req.get("model"), req.get("provider") or provider, req.get("face_type") or face_type,
                      req.get("xseg_model") or xseg)
        if self._renderer is None:
            raise BadRequest("render: no model loaded (send 'load' first or give 'model')")
        settings, overrides = req.get("settings"), req.get("overrides")
        if settings is not None and not isinstance(settings, (dict, str)):
            raise BadRequest("render: settings must be an object or a file path")
        if overrides is not None and not isinstance(overrides, dict):
            raise BadRequest("render: overrides must be an object of merge options")
        # checked once here (a bad value is named as the request's settings); the renderer trusts the result
        options: dict[str, Any] = {"settings": load_settings(settings, overrides, "settings"),
                                   "track": req.get("track"),
                                   "working_space": req.get("working_space"),
                                   }
        try:
            options["face_select"] = parse_faces(req.get("faces", req.get("face_select", "all")))
            if req.get("passes"):
                options["passes"] = parse_passes(req.get("passes"), "passes")
            if req.get("exr_layout"):
                options["exr_layout"] = check_exr_layout(str(req.get("exr_layout")), "exr_layout")
        except FacecompError as exc:
            raise BadRequest(f"render: {exc}") from None
        offset = req.get("frame_offset", 0)
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise BadRequest("render: frame_offset must be a whole number")
        t0 = time.perf_counter()
        if self.profile:
            log.warning("%s", _profile_line(f"request {req.id}", {"queued": req.started - req.received,
                                                                   "prepare": t0 - req.started}))
        outputs: list[str] = []
        faces = 0
        for i, frame in enumerate(frames):
            if self._is_cancelled(req.id):
                self._send(protocol.error(req.id, f"cancelled after {i} of {len(frames)} frames",
                                          kind="cancelled", frame=frame))
                return
            out_path = format_pattern(out, frame + offset)  # passes named by the host's frame
            try:
                report = self._renderer.render(plate, frame, out_path, **options)
            except FacecompError as exc:
                self._send(protocol.error(req.id, f"frame {frame}: {exc}", path=exc.path, frame=frame))
                return
            outputs.append(out_path)
            faces += int(getattr(report, "faces", 0) or 0)
            extra = {"timings_ms": {k: round(v * 1000, 2) for k, v in getattr(report, "timings", {}).items()}} \
                if self.profile else {}
            self._send(protocol.progress(req.id, frame=frame, out_frame=frame + offset, done=i + 1,
                                         total=len(frames), out=out_path, faces=getattr(report, "faces", None),
                                         **extra))
            if self.profile:
                log.warning("%s", _profile_line(f"frame {frame}", getattr(report, "timings", {})))
        self._send(protocol.result(req.id, frames=frames, outputs=outputs, faces=faces,
                                   seconds=round(time.perf_counter() - t0, 4),
                                   providers=_providers_of(self._renderer)))


def claim_stdout() -> TextIO:
    """Take stdout for the protocol; anything else printing to fd 1 (libraries, C code) goes to stderr."""
    sys.stdout.flush()
    proto = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1, newline="\n")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return proto


def serve(inp: TextIO, out: TextIO, renderer_factory: RendererFactory | None = None, model: str | None = None,
          provider: str | None = None, idle_timeout: float = 0.0) -> int:
    """Answer requests from ``inp`` on ``out`` until ``shutdown``, end of input or ``idle_timeout`` seconds idle."""
    write_lock = threading.Lock()

    def send(message: dict[str, Any]) -> None:
        line = protocol.encode(message)
        with write_lock:
            try:
                out.write(line)
                out.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass  # the host is gone; the reader sees end of input and stops the worker

    worker = Worker(send, renderer_factory)
    jobs: queue.Queue[Request | None] = queue.Queue()

    def take(line: str) -> None:
        """Parse one request line; answer it at once, queue it, or reply with an error (never raises)."""
        rid = None
        try:
            req = protocol.parse_request(line)
            rid = req.id
            if req.op in protocol.IMMEDIATE_OPS:
                worker.handle_immediate(req)
            else:
                jobs.put(req)
        except BadRequest as exc:
            send(protocol.error(exc.rid if rid is None else rid, str(exc), kind="bad_request"))
        except Exception as exc:  # noqa: BLE001 - a bad request must never end the reader
            log.error("%s", traceback.format_exc())
            send(protocol.error(rid, f"request not understood ({type(exc).__name__}: {limits.shown(str(exc))})",
                                kind="bad_request"))

    def read() -> None:
        try:
            while True:
                try:
                    line = limits.read_line(inp)
                except limits.TooLong as exc:
                    send(protocol.error(None, str(exc), kind="bad_request"))
                    continue
                if line is None:
                    break
                if line.strip():
                    take(line)
        except Exception:  # noqa: BLE001 - unreadable input counts as the host going away
            log.error("%s", traceback.format_exc())
        finally:
            worker.close()
            jobs.put(None)

    if model:
        try:
            worker.load(model, provider)
        except FacecompError as exc:
            send(protocol.error(None, str(exc), path=exc.path))
    threading.Thread(target=read, name="facecomp-worker-reader", daemon=True).start()
    while True:
        try:
            req = jobs.get(timeout=idle_timeout or None)
        except queue.Empty:
            log.info("worker: idle for %s s, stopping", idle_timeout)
            return 0
        if req is None or not worker.handle_queued(req):
            return 0
