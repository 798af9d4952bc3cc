"""``facecomp export``: a trained model folder -> one ONNX file in DeepFaceLab's DFM signature (.onnx or .dfm)."""

from __future__ import annotations

import argparse

from engine.export.model_folder import export_model_folder
from engine.export.onnx import DEFAULT_OPSET


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="workspace/model", help="model folder (model.json + model.safetensors)")
    parser.add_argument("--out", default=None,
                        help="output file, .onnx or .dfm (same content); default MODEL/model.onnx")
    parser.add_argument("--fp16", action="store_true", help="float16 weights and compute, float32 inputs/outputs")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (17 or newer)")
    parser.add_argument("--landmarker", default=None,
                        help="landmarker name for the metadata (default: from the training faceset)")
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="skip the ONNX Runtime vs PyTorch comparison after export")


def run(args: argparse.Namespace) -> int:
    rep = export_model_folder(args.model, args.out, fp16=args.fp16, opset=args.opset, verify=args.verify,
                              landmarker=args.landmarker)
    diff = "" if rep.max_abs_diff is None else f", max abs diff to PyTorch {rep.max_abs_diff:.1e}"
    print(f"{rep.path}: {rep.kind} {rep.archi} {rep.resolution}px, iteration {rep.iteration}, "
          f"{rep.bytes / 2**20:.1f} MiB{diff}")
    return 0
