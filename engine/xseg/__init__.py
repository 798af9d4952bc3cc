"""XSeg: face segmentation masks (labels, model, training, apply, mattes, generic/auto masks, editor)."""
