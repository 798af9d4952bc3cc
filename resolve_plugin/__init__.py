"""facecomp host plugin for DaVinci Resolve / Fusion: facecomp_fusion.py is the Comp script (stdlib-only)."""
