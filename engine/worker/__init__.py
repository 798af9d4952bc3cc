"""The render worker behind the host plugins: `facecomp worker` (JSON lines over stdin/stdout)."""
