"""Export of swap models to ONNX in DeepFaceLab's DFM signature, and the signature's validator."""
