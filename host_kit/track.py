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
