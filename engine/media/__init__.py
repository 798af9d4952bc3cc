"""Media I/O: images (OpenCV, OpenImageIO for EXR), frame sources (PyAV video, image sequences), colour (OCIO)."""
