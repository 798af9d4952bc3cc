"""What a host needs from a facecomp track file (``facecomp track``): the stable names of its faces."""

import json

MAX_TRACK_BYTES = 256 << 20


def face_names(path):
    """The faces' stable names in a track file, in order of first appearance.

    A face entry may carry its ``name`` (given by the user or by the tracker); unnamed faces are called
    ``face0``, ``face1``... by their index in the frame, as the engine names their matte layers.
    Raises ValueError with a one-line reason when the file is not a track.
    """
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read(MAX_TRACK_BYTES).decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError("{}: not a readable track file ({})".format(path, exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise ValueError("{}: not a facecomp track (no frames list)".format(path))
    names = []
    for frame in data["frames"]:
        for i, face in enumerate(frame.get("faces") or [] if isinstance(frame, dict) else []):
            name = face.get("name") if isinstance(face, dict) else None
            name = str(name) if name else "face{}".format(i)
            if name not in names:
                names.append(name)
    return names


def track_args(plate, out, first, last, working_space=None, provider=None, xseg_model=None):
    """The arguments of ``facecomp track`` for a host's Build track: the plate's frames ``first``-``last``, and
    ``--xseg-model`` when an XSeg model is set (the track then carries XSeg masks for the XSeg mask modes)."""
    args = ["track", plate, "--out", out, "--frames", "{}-{}".format(first, last)]
    for flag, value in (("--working-space", working_space), ("--provider", provider), ("--xseg-model", xseg_model)):
        if value:
            args += [flag, value]
    return args


def track_done_message(out, xseg_model=None):
    """The status/log line after a Build track."""
    return "track written{}: {}".format(" with XSeg masks" if xseg_model else "", out)
