"""Measured quality of a trained swap model on a shot (`facecomp report`): identity, pose and expression kept,
reconstruction, temporal stability. See docs/quality.md for how to read the figures."""
