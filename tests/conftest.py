"""Suite-wide settings.

The tests run many tiny models and several multi-process tests at once on small machines.
One intra-op thread per process keeps them from oversubscribing the cores (an OpenMP pool
that spins while another process holds a core slows PyTorch down by an order of magnitude);
subprocesses inherit the setting through the environment.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
