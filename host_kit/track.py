"""What a host needs from a facecomp track file (``facecomp track``): the stable names of its faces."""

import json

MAX_TRACK_BYTES = 512 << 20  # the engine's own cap on a track file (engine/swap/track.py)


def _face_identity(face):
    """A face entry's person: its ``identity``, else its track ``id`` (a track built without identities)."""
    for key in ("identity", "id"):
        value = face.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def face_names(path):
    """The faces' stable names in a track file, by identity, as the engine names their matte layers.

    The engine's rule (engine/swap/track.py, ``Track.name_of``): a face is named by its identity (else its
    track id) through the file's ``names`` table (identity -> name, the one place a user renames a face);
    an identity missing from the table is ``face<identity>``. Raises ValueError with a one-line reason when
    the file is not a track.
    """
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read(MAX_TRACK_BYTES).decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError("{}: not a readable track file ({})".format(path, exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise ValueError("{}: not a facecomp track (no frames list)".format(path))
    table = data.get("names")
    table = table if isinstance(table, dict) else {}
    identities = set()
    for frame in data["frames"]:
        for face in (frame.get("faces") or []) if isinstance(frame, dict) else []:
            identity = _face_identity(face) if isinstance(face, dict) else None
            if identity is not None:
                identities.add(identity)
    return [str(table.get(str(i)) or "face{}".format(i)) for i in sorted(identities)]


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
