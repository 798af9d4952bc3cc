"""facecomp engine: everything that is not host glue (importable without Nuke or Resolve)."""

__version__ = "0.1.0"
