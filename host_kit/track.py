"""What a host needs from a facecomp track file (``facecomp track``): the stable names of its faces."""

import codecs
import json

MAX_TRACK_BYTES = 512 << 20  # the engine's own cap on a track file (engine/swap/track.py)
HEAD_BYTES = 64 << 10  # the first read of a track's header; doubled while the header goes on


class _Truncated(Exception):
    """The text read so far ends inside the header."""


def _skip_space(text, pos):
    """The position of the first character at or after ``pos`` that is not JSON whitespace."""
    while pos < len(text) and text[pos] in " \t\n\r":
        pos += 1
    return pos


def _fields_before_frames(text):
    """The top-level fields of the JSON object ``text`` starts, up to its ``frames`` key (None when the object
    ends without one). Each value is taken only when the ``,`` or ``}`` after it was read too, so a value cut
    by the end of ``text`` (``30.`` of ``30.5``) is never taken. Raises ValueError when ``text`` is not a JSON
    object, _Truncated when it ends first or does not parse further (more text may mend it; a damaged file is
    named by the full read)."""
    decoder = json.JSONDecoder()
    fields = {}
    pos = _skip_space(text, 0)
    if pos >= len(text):
        raise _Truncated()
    if text[pos] != "{":
        raise ValueError("not a JSON object")
    while True:
        try:
            key, pos = decoder.raw_decode(text, _skip_space(text, pos + 1))
            pos = _skip_space(text, pos)
            if key == "frames" and text[pos:pos + 1] == ":":
                return fields
            if not isinstance(key, str) or text[pos:pos + 1] != ":":
                raise _Truncated()
            fields[key], pos = decoder.raw_decode(text, _skip_space(text, pos + 1))
        except json.JSONDecodeError:
            raise _Truncated() from None
        pos = _skip_space(text, pos)
        if text[pos:pos + 1] == "}":
            return None
        if text[pos:pos + 1] != ",":
            raise _Truncated()


def _header(fh):
    """The fields of a track file before its ``frames`` (the engine writes them first), reading as little of
    the file as that needs: a first HEAD_BYTES, doubled until the header is whole. None when the file does not
    parse that way (damaged, or no ``frames``); the caller then reads the file whole."""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    text, want, read = "", HEAD_BYTES, 0
    while read < MAX_TRACK_BYTES:
        chunk = fh.read(min(want, MAX_TRACK_BYTES - read))
        read += len(chunk)
        try:
            text += utf8.decode(chunk, final=not chunk)
            return _fields_before_frames(text)
        except _Truncated:
            if not chunk:
                return None
        except ValueError:  # not UTF-8, not an object: the full read says so
            return None
        want = read
    return None


def _identities(fields):
    """The header's ``identities`` when it is a list of whole numbers (tracks written before it: None)."""
    found = fields.get("identities") if fields is not None and "names" in fields else None
    if isinstance(found, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in found):
        return found
    return None


def _face_identity(face):
    """A face entry's person: its ``identity``, else its track ``id`` (a track built without identities)."""
    for key in ("identity", "id"):
        value = face.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _frames_identities(data, path):
    """The identities of every face of a whole track file's ``frames`` (tracks without the header's list)."""
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise ValueError("{}: not a facecomp track (no frames list)".format(path))
    identities = set()
    for frame in data["frames"]:
        for face in (frame.get("faces") or []) if isinstance(frame, dict) else []:
            identity = _face_identity(face) if isinstance(face, dict) else None
            if identity is not None:
                identities.add(identity)
    return sorted(identities)


def face_names(path):
    """The faces' stable names in a track file, by identity, as the engine names their matte layers.

    The engine's rule (engine/swap/track.py, ``Track.name_of``): a face is named by its identity (else its
    track id) through the file's ``names`` table (identity -> name, the one place a user renames a face);
    an identity missing from the table is ``face<identity>``. The identities come from the header's
    ``identities`` (the engine writes it, and ``names``, before the frames, so a track with XSeg masks,
    tens of MB, is named from its first kilobytes in the host's UI thread); a track written before that
    header is read whole. Raises ValueError with a one-line reason when the file is not a track.
    """
    try:
        with open(path, "rb") as fh:
            fields = _header(fh)
            identities = _identities(fields)
            if identities is None:
                fh.seek(0)
                fields = json.loads(fh.read(MAX_TRACK_BYTES).decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError("{}: not a readable track file ({})".format(path, exc)) from None
    if identities is None:
        identities = _frames_identities(fields, path)
    table = fields.get("names")
    table = table if isinstance(table, dict) else {}
    return [str(table.get(str(i)) or "face{}".format(i)) for i in identities]


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
