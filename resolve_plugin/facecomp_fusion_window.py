"""FaceSwap's progress window in Fusion and Resolve: a status line, a progress bar and Cancel (Fusion's UIManager).

Stdlib-only (Python 3.6+); part of facecomp_fusion.py. The worker's requests are sent without waiting
(host_kit.client.PendingRequest) and polled from a UI timer, so Fusion's UI stays responsive and Cancel reaches the
worker between frames. Without a UIManager (fuscript from a shell, the self-test) the caller keeps the console path.

UIManager API used (fusionscript-stubs 21.0.0 declares Fusion as an empty class and has no UIManager; these follow
public comp scripts in the code index, Andrew Hazelden's "UI Manager Lua & Python Examples" (Reactor) and
EmberLightVFX/Fusion-Script-Docs docs/UITimer.md): ``ui = fusion.UIManager``, ``disp = bmd.UIDispatcher(ui)``,
``disp.AddWindow({"ID", "WindowTitle", "Geometry"}, ui.VGroup([...]))``, ``ui.Label``/``ui.Slider`` (a disabled
slider as the bar, Minimum/Maximum/Value)/``ui.Button``, ``win.GetItems()[id].Text|Value|Enabled``,
``win.On.<id>.Clicked``/``win.On.<window id>.Close``, ``ui.Timer({"ID", "Interval", "SingleShot"})`` with
``Start``/``Stop`` (a QTimer) whose Timeout event reaches ``disp.On.Timeout`` (the dispatcher, not the window),
``win.Show``/``Hide``, ``disp.RunLoop``/``ExitLoop``.
"""

import sys
import time

WINDOW_ID = "FacecompFaceSwap"
TIMER_ID = "FacecompPoll"
POLL_MS = 100


def ui_manager(main_globals=None):
    """(ui, dispatcher) of the running Fusion, or None when there is no UIManager (fuscript, tests without one)."""
    names = main_globals if main_globals is not None else sys.modules["__main__"].__dict__
    app = names.get("fusion") or names.get("fu")
    try:
        bmd = names.get("bmd") or _bmd_module()
        if app is None:
            app = bmd.scriptapp("Fusion")
        ui = app.UIManager if app is not None else None
        return (ui, bmd.UIDispatcher(ui)) if ui is not None else None
    except (ImportError, AttributeError, RuntimeError, TypeError):
        return None


def _bmd_module():
    import BlackmagicFusion  # type: ignore[import-not-found]  # no stub (see facecomp_fusion.py)

    return BlackmagicFusion


class ProgressWindow(object):
    """Run worker requests one after another under a window; ``run(steps)`` returns the last request's result or
    raises its error. ``steps``: (status text, start) pairs; ``start()`` returns a host_kit.client PendingRequest or
    PendingCommand."""

    runs = 0

    def __init__(self, ui, dispatcher, title, total, on_progress=None, should_cancel=None):
        self.ui, self.disp, self.total, self.on_progress = ui, dispatcher, total, on_progress
        self.should_cancel = should_cancel
        self.done, self.cancelled, self.pending, self.error, self.result = 0, False, None, None, None
        # a fresh window id per run: public scripts rename a closed window's ID before making it again (VinciSub:
        # window.ID = WINDOW_ID + ".closed." + ...), a sign that Fusion keeps windows and their events by ID
        ProgressWindow.runs += 1
        window_id = "{}{}_{}".format(WINDOW_ID, int(time.time()), ProgressWindow.runs)
        self.win = dispatcher.AddWindow({"ID": window_id, "WindowTitle": title, "Geometry": [200, 200, 460, 130]},
                                        ui.VGroup([ui.Label({"ID": "Status", "Text": "starting...", "WordWrap": True}),
                                                   ui.Slider({"ID": "Bar", "Minimum": 0, "Maximum": max(total, 1),
                                                              "Value": 0, "Enabled": False}),
                                                   ui.Button({"ID": "Cancel", "Text": "Cancel"})]))
        self.items = self.win.GetItems()
        self.win.On[window_id].Close = self._cancel  # closing the window is a cancel too
        self.win.On.Cancel.Clicked = self._cancel
        self.timer = ui.Timer({"ID": TIMER_ID, "Interval": POLL_MS, "SingleShot": False})
        dispatcher.On.Timeout = self._tick

    def status(self, text):
        self.items["Status"].Text = text

    def run(self, steps):
        self.steps = list(steps)
        self.win.Show()
        self.timer.Start()
        try:
            self._next()
            if self.pending is not None:
                self.disp.RunLoop()
        finally:
            self.timer.Stop()
            if self.pending is not None and not self.pending.finished:  # the loop ended some other way
                self.pending.stop("the progress window closed first")
                self.error = self.pending.error
            self.win.Hide()
        if self.error is not None:
            raise self.error
        return self.result

    def _next(self):
        if not self.steps or self.cancelled:
            self.pending = None
            return
        text, start = self.steps.pop(0)
        self.status(text)
        try:
            self.pending = start()
        except Exception as exc:  # noqa: BLE001 - any start failure ends the run and is raised by run()
            self.error, self.pending = exc, None

    def _cancel(self, ev=None):
        """Cancel (the button, or closing the window): the worker is told once and the loop goes on until it
        answers (at its next frame), so the run ends with the worker's own 'cancelled'."""
        if self.pending is None:
            self.disp.ExitLoop()
            return
        if self.cancelled:
            return
        self.cancelled = True
        self.items["Cancel"].Enabled = False
        self.status("cancelling after the current frame...")
        self.pending.cancel()

    def _tick(self, ev=None):
        if self.pending is None:
            self.disp.ExitLoop()
            return
        if self.should_cancel is not None and not self.cancelled and self.should_cancel():
            self._cancel()
        for message in self.pending.poll(wait=0.02):
            self.done += 1
            self.items["Bar"].Value = self.done
            why = ", no face: the plate passes through" if message.get("faces") == 0 else ""
            self.status("{}frame {} ({} of {}{})".format("cancelling: " if self.cancelled else "",
                                                         message.get("frame"), self.done, self.total, why))
            if self.on_progress is not None:
                self.on_progress(message)
        if not self.pending.finished:
            return
        if self.pending.error is not None:
            self.error, self.pending = self.pending.error, None
            self.status("{}: {}".format("cancelled" if self.cancelled else "failed", self.error))
        else:
            self.result = self.pending.result
            self._next()
        if self.pending is None:
            self.disp.ExitLoop()
