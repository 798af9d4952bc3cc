"""facecomp host plugin for Foundry Nuke (stdlib-only; Nuke loads init.py/menu.py from this folder)."""
