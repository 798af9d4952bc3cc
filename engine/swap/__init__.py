"""Running exported face models on frames: the ONNX Runtime session, the per-frame swap (DeepFaceLab's merger),
colour transfer, alignment tracks, compositing passes and the stateless renderer the hosts call."""
