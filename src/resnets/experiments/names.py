"""The experiments by name, with a line of help each: what the parser and the settings share
(apart from both, so that neither imports the other, and the parser loads no torch)."""

# One line each for the help; catalog.EXPERIMENTS holds the same names (a test checks).
NAMES = {
    "degradation": "plain vs residual nets of several depths: training error (Fig. 6)",
    "gradients": "per-layer gradient norms at init and after k steps, plain vs residual",
    "responses": "std of each 3x3 layer's response, plain vs residual (Fig. 7)",
    "shortcuts": "shortcut options A, B and C (Table 3)",
    "preact": "original vs pre-activation residual units (He et al. 2016)",
    "overfitting": "dropout, weight decay, label smoothing, mixup, CutMix on 10% of the data: "
                   "train/test gap",
    "transformer-skips": "ViT encoders with and without skips: accuracy, gradient norms per "
                         "block, rank collapse of the tokens (Dong et al. 2021)",
    "lesion": "remove one block at a time from a trained ResNet and its plain twin: test "
              "accuracy (Veit et al. 2016)",
}
