"""A stand-in `facecomp` executable for the failure tests: ``fake_facecomp.py MODE worker`` or ``... MODE render ...``.

MODE ``hang``: answers hello and load, then never answers a render (a worker stuck in a driver call).
MODE ``crash``: answers hello and load, then dies with exit code 3 and a message on stderr at the first render.
MODE ``record``: ``track ... --out T``: writes its arguments to T.args.json and a one-frame track to T (what a host's
Build track sends, without running the tracker).
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from engine.worker.tables import option_tables  # noqa: E402  (a fake worker still publishes the real tables)

mode = sys.argv[1]
if mode == "record" and sys.argv[2:3] == ["track"]:
    out = sys.argv[sys.argv.index("--out") + 1]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out + ".args.json").write_text(json.dumps(sys.argv[2:]), encoding="utf-8")
    track = {"names": {"0": "face0"}, "frames": [{"frame": 1, "faces": [{"id": 0, "identity": 0}]}]}
    Path(out).write_text(json.dumps(track), encoding="utf-8")
    sys.exit(0)
if sys.argv[2:3] == ["render"]:  # the batch CLI: hang, or crash with a message
    if mode == "crash":
        print("Segmentation fault in libonnxruntime (simulated)", file=sys.stderr, flush=True)
        sys.exit(3)
    time.sleep(3600)
for line in sys.stdin:
    req = json.loads(line)
    if req["op"] == "hello":
        print(json.dumps({"id": req["id"], "type": "result", "protocol": 1, "facecomp": "fake",
                          "options": option_tables()}), flush=True)
    elif req["op"] == "shutdown":
        print(json.dumps({"id": req["id"], "type": "result", "shutdown": True}), flush=True)
        sys.exit(0)
    elif req["op"] == "load":
        print(json.dumps({"id": req["id"], "type": "result", "providers": ["CPUExecutionProvider"]}), flush=True)
    elif mode == "crash":
        print("Segmentation fault in libonnxruntime (simulated)", file=sys.stderr, flush=True)
        sys.exit(3)
    else:
        time.sleep(3600)
