"""``resnets quantize``: post-training static int8 quantization of a run or published weights.

    resnets quantize RUN_DIR [--calibration 256] [--backend torch|onnxruntime] [--out DIR]
    resnets quantize --model resnet50 --weights imagenet --out DIR
"""

from __future__ import annotations

from typing import Sequence

from ..limits import Parser, arg, integer, number
from .command import BACKENDS, check_request, from_run, from_weights, quantize, report_lines


def build_parser() -> Parser:
    p = Parser(prog="resnets quantize", description=__doc__.split("\n")[0])
    p.add_argument("source", nargs="?", help="run directory or checkpoint (or --model)")
    p.add_argument("--model", help="registry name, with --weights (instead of a run)")
    p.add_argument("--weights", help="imagenet, imagenet:v2 or a weights file (with --model)")
    p.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="torch: PT2E with the x86 quantizer (torchao); onnxruntime: "
                   "quantize_static of the exported ONNX model")
    p.add_argument("--calibration", type=arg(integer(1, 100_000)), default=256,
                   help="training images the activation ranges are calibrated on")
    p.add_argument("--out", help="folder for the int8 model and quantize.json "
                   "(default RUN_DIR/int8; needed with --model)")
    p.add_argument("--threads", type=arg(integer(1, 1024)), default=1,
                   help="intra-op threads of every measured model")
    p.add_argument("--seconds", type=arg(number(0, 3600, open_low=True)), default=2.0,
                   help="timing per latency and throughput measurement")
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    folder = check_request(args.source, args.model, args.weights, args.backend,
                           args.calibration, args.out)
    subject = (from_run(args.source, args.calibration) if args.source else
               from_weights(args.model, args.weights, args.calibration))
    report = quantize(subject, args.backend, folder, args.threads, args.seconds)
    for line in report_lines(report, folder):
        print(line)
    return 0
