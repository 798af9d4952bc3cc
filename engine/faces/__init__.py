"""Faces: detection, 68-point landmarks, alignment and face types, faceset files, sorting, drawings."""
