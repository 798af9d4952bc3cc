"""Frame numbers, frame ranges and numbered files, as the hosts and facecomp name them."""

import re

# Files that are image sequences when their name ends in a number. Movies (mov, mp4, mxf...) are single files
# even when their name ends in digits: interview_01.mov is one clip, not frame 1 of interview_%02d.mov.
IMAGE_EXTENSIONS = frozenset(("exr", "dpx", "cin", "tif", "tiff", "png", "jpg", "jpeg", "tga", "sgi", "rgb", "bmp",
                              "hdr", "jp2", "psd", "webp"))
_NUMBERED = re.compile(r"^(.*?)(\d+)(\.[A-Za-z0-9]+)$")


def is_image_file(path):
    """True when ``path`` names an image format (a frame of a sequence), not a movie."""
    return path.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS if "." in path else False


def sequence_pattern(path):
    """(printf pattern, frame) of a numbered image file; (None, None) for movies and unnumbered files.

    >>> sequence_pattern("/a/plate.1001.exr")
    ('/a/plate.%04d.exr', 1001)
    >>> sequence_pattern("/a/interview_01.mov")
    (None, None)
    """
    m = _NUMBERED.match(path or "")
    if not m or not is_image_file(path):
        return None, None
    return "{}%0{}d{}".format(m.group(1), len(m.group(2)), m.group(3)), int(m.group(2))


def frame_path(pattern, frame):
    """A pattern with %04d, %d or #### filled with a frame number.

    >>> frame_path("/a/fs.####.exr", 7)
    '/a/fs.0007.exr'
    """
    pattern = re.sub(r"%(\d*)d", lambda m: str(frame).zfill(int(m.group(1) or 0)), pattern)
    return re.sub(r"#+", lambda m: str(frame).zfill(len(m.group(0))), pattern)


def runs(frames):
    """Consecutive runs of the sorted frames.

    >>> runs([1, 2, 3, 7])
    [(1, 3), (7, 7)]
    """
    out = []
    for f in sorted(set(frames)):
        if out and f == out[-1][1] + 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return [tuple(r) for r in out]


def range_text(frames):
    """Frames in the worker's range syntax.

    >>> range_text([1001, 1002, 1003, 1010])
    '1001-1003 1010'
    """
    return " ".join(str(a) if a == b else "{}-{}".format(a, b) for a, b in runs(frames))


def file_frames(first_file_frame, first_time, times):
    """File frame numbers shown at host times ``times`` when ``first_time`` shows ``first_file_frame``."""
    return [first_file_frame + (t - first_time) for t in times]
