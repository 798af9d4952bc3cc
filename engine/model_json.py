"""Reading the JSON files facecomp writes beside its weights (model.json of swap and XSeg models) as data:
size-limited, one clear error naming the file when it is damaged, foreign or newer than this facecomp."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from engine.errors import FacecompError

MAX_JSON_BYTES = 16 << 20


def read_versioned_json(path: str | os.PathLike[str], fmt: str, version: int, what: str,
                        max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The JSON object of ``path`` whose ``"format"`` is ``fmt`` and ``"version"`` at most ``version``.

    ``what`` names the file's kind in errors, with its article ("a facecomp swap model", "an XSeg model").
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise FacecompError(f"{p.name} larger than {max_bytes >> 20} MiB (not {what} file)", p)
        data = json.loads(p.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FacecompError(f"damaged {p.name} ({str(exc)[:200]})", p) from None
    except RecursionError:
        raise FacecompError(f"damaged {p.name} (JSON nested too deeply)", p) from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        found = data.get("format") if isinstance(data, dict) else None
        raise FacecompError(f"not {what} (format {found!r}, expected {fmt!r})", p)
    try:
        newer = int(data.get("version", 0)) > version
    except (TypeError, ValueError, OverflowError):
        raise FacecompError(f"damaged {p.name} (version is not a number)", p) from None
    if newer:
        raise FacecompError(f"{what.split(' ', 1)[1]} version {str(data.get('version'))[:40]} is newer than this "
                            "facecomp reads", p)
    return data
