"""``resnets quantize``: static int8 models of a run or of published weights, with a report
of accuracy, agreement with fp32, size and latency (see :mod:`resnets.quantize.command`)."""
