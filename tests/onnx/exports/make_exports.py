#!/usr/bin/python3
"""Writes the ONNX exports of small PyTorch models that tests/onnx/exports_test.cpp runs.

Each model NAME gives NAME.onnx (torch.onnx.export, eval mode, the batch and sequence axes
dynamic), NAME.x.npy and NAME.y.npy (an input and PyTorch's output at the exported shape),
and NAME.x2.npy and NAME.y2.npy (at a second batch size / sequence length). The files are
committed: CI runs them without PyTorch. Regenerate with Debian's PyTorch (python3-torch):

    /usr/bin/python3 tests/onnx/exports/make_exports.py [OUT_DIR]

OUT_DIR defaults to this script's directory. The seeds are fixed, so a rerun with the same
PyTorch writes the same numbers.
"""
import os
import sys
import warnings

import numpy as np
import torch
from torch import nn


class Gru2(nn.Module):
    """A 2-layer nn.GRU (seq, batch, feature), the output of every step."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 8, num_layers=2)

    def forward(self, x):
        return self.gru(x)[0]


class Activations(nn.Module):
    """An MLP through GELU, SiLU, Softplus, Mish and Hardswish."""

    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(8, 16), nn.Linear(16, 16), nn.Linear(16, 4)
        self.acts = nn.Sequential(nn.GELU(), nn.SiLU(), nn.Softplus(), nn.Mish(), nn.Hardswish())

    def forward(self, x):
        h = self.acts[0](self.l1(x))
        h = self.acts[1](self.l2(h))
        return self.l3(self.acts[4](self.acts[3](self.acts[2](h))))


def transformer():
    return nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, activation="gelu",
                                      batch_first=True)


# name: (model, opset, input shape, second input shape, dynamic axes of the input and output)
MODELS = {
    "gru2": (Gru2, 13, (5, 2, 4), (7, 3, 4), {0: "T", 1: "N"}),
    "transformer_encoder": (transformer, 14, (2, 6, 32), (3, 9, 32), {0: "N", 1: "T"}),
    "mlp_activations": (Activations, 14, (5, 8), (2, 8), {0: "N"}),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out, exist_ok=True)
    warnings.filterwarnings("ignore")
    for i, (name, (make, opset, shape, shape2, axes)) in enumerate(MODELS.items()):
        torch.manual_seed(100 + i)
        model = make().eval()
        x, x2 = torch.randn(*shape), torch.randn(*shape2)
        path = os.path.join(out, name + ".onnx")
        torch.onnx.export(model, (x,), path, opset_version=opset, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": axes, "y": axes})
        with torch.no_grad():
            for suffix, inp in (("", x), ("2", x2)):
                np.save(os.path.join(out, f"{name}.x{suffix}.npy"), inp.numpy())
                np.save(os.path.join(out, f"{name}.y{suffix}.npy"), model(inp).numpy())
        print(f"{name}: opset {opset}, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
