#!/usr/bin/python3
"""Writes the ONNX exports of small PyTorch models that tests/onnx/exports_test.cpp runs.

Each model NAME gives NAME.onnx (torch.onnx.export, eval mode except the models in TRAINING,
exported with training=TrainingMode.TRAINING; the batch and sequence axes dynamic), NAME.x.npy and NAME.y.npy (an input and PyTorch's output at the exported shape),
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


class ResidualBlock(nn.Module):
    """A ResNet basic block with batch norm (its running statistics in eval mode)."""

    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.c2, self.b2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)

    def forward(self, x):
        h = torch.relu(self.b1(self.c1(x)))
        return torch.relu(x + self.b2(self.c2(h)))


class LstmLast(nn.Module):
    """nn.LSTM (batch_first) and a linear layer on the last step."""

    def __init__(self):
        super().__init__()
        self.lstm, self.fc = nn.LSTM(3, 6, batch_first=True), nn.Linear(6, 2)

    def forward(self, x):
        return self.fc(self.lstm(x)[0][:, -1])


class Tcn(nn.Module):
    """A 1-D convolution net with dilations 1, 2, 4 (a TCN without its causal crop)."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(3 if d == 1 else 5, 5, 3, dilation=d, padding=d)
                                   for d in (1, 2, 4))

    def forward(self, x):
        for c in self.convs:
            x = torch.relu(c(x))
        return x


class CausalDecoder(nn.Module):
    """nn.TransformerDecoderLayer attending to its own input, with a causal mask."""

    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerDecoderLayer(16, 2, dim_feedforward=32, batch_first=True)

    def forward(self, x):
        t = x.shape[1]
        mask = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
        return self.layer(x, x, tgt_mask=mask)


class PaddedAttention(nn.Module):
    """nn.MultiheadAttention with a key-padding mask computed from the input."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x):
        padding = x[:, :, 0] > 0.3  # keys whose first feature exceeds 0.3 are padding
        return self.attn(x, x, x, key_padding_mask=padding, need_weights=False)[0]


class PatchEmbedding(nn.Module):
    """A ViT-style patch embedding: Conv with stride = kernel, flatten, transpose, a class
    token concatenated in front, positional embeddings added."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, 8, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, 8))
        self.pos = nn.Parameter(torch.randn(1, 5, 8))

    def forward(self, x):
        p = self.proj(x).flatten(2).transpose(1, 2)
        return torch.cat([self.cls.expand(x.shape[0], -1, -1), p], dim=1) + self.pos


class UNetBlock(nn.Module):
    """A UNet-style block: down by a strided Conv, up by ConvTranspose, the skip joined by
    Concat."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(2, 4, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(4, 2, 2, stride=2)
        self.out = nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x):
        u = self.up(torch.relu(self.down(x)))
        return self.out(torch.cat([x, u], dim=1))


class MobileBlock(nn.Module):
    """A MobileNet-style block: strided conv + BN, depthwise conv + BN + ReLU6, pointwise
    conv, global average pool, linear."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8),
            nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU6(),
            nn.Conv2d(8, 12, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 5))

    def forward(self, x):
        return self.net(x)


class EmbeddingNorm(nn.Module):
    """nn.Embedding of int64 ids, nn.LayerNorm, the mean over the sequence, a linear layer."""

    def __init__(self):
        super().__init__()
        self.emb, self.norm, self.fc = nn.Embedding(20, 8), nn.LayerNorm(8), nn.Linear(8, 3)

    def forward(self, ids):
        return self.fc(self.norm(self.emb(ids)).mean(dim=1))


class TrainMode(nn.Module):
    """Linear, BatchNorm1d, ReLU, Dropout, Linear, exported in training mode: the batch norm
    normalises by the batch's own statistics (BatchNormalization training_mode=1). The
    dropout's ratio is 0, so the export's Dropout (training_mode true) is deterministic and
    the output comparable with PyTorch's; a ratio above 0 draws a random mask in both."""

    def __init__(self):
        super().__init__()
        self.l1, self.bn, self.l2 = nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Linear(8, 3)
        self.drop = nn.Dropout(0.0)

    def forward(self, x):
        return self.l2(self.drop(torch.relu(self.bn(self.l1(x)))))


def transformer():
    return nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, activation="gelu",
                                      batch_first=True)


# name: (model, opset, input shape, second input shape, dynamic axes of the input and output)
MODELS = {
    "gru2": (Gru2, 13, (5, 2, 4), (7, 3, 4), {0: "T", 1: "N"}),
    "transformer_encoder": (transformer, 14, (2, 6, 32), (3, 9, 32), {0: "N", 1: "T"}),
    "mlp_activations": (Activations, 14, (5, 8), (2, 8), {0: "N"}),
    "resnet_block": (ResidualBlock, 15, (2, 4, 6, 6), (3, 4, 6, 6), {0: "N"}),
    "lstm_last": (LstmLast, 13, (2, 5, 3), (4, 7, 3), {0: "N", 1: "T"}),
    "tcn": (Tcn, 17, (2, 3, 12), (1, 3, 20), {0: "N", 2: "T"}),
    "causal_decoder": (CausalDecoder, 14, (2, 5, 16), (3, 8, 16), {0: "N", 1: "T"}),
    "padded_attention": (PaddedAttention, 14, (2, 6, 16), (3, 4, 16), {0: "N", 1: "T"}),
    "patch_embedding": (PatchEmbedding, 13, (2, 3, 8, 8), (3, 3, 8, 8), {0: "N"}),
    "unet_block": (UNetBlock, 13, (2, 2, 8, 8), (1, 2, 8, 8), {0: "N"}),
    "mobile_block": (MobileBlock, 13, (2, 3, 8, 8), (3, 3, 8, 8), {0: "N"}),
    "embedding_norm": (EmbeddingNorm, 13, (2, 5), (3, 7), {0: "N", 1: "T"}),
    "train_mode": (TrainMode, 15, (5, 6), (7, 6), {0: "N"}),
}

# Exported with training=TrainingMode.TRAINING, run in train mode.
TRAINING = {"train_mode"}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out, exist_ok=True)
    warnings.filterwarnings("ignore")
    for i, (name, (make, opset, shape, shape2, axes)) in enumerate(MODELS.items()):
        torch.manual_seed(100 + i)
        model = make().train() if name in TRAINING else make().eval()
        if name == "embedding_norm":  # token ids
            x, x2 = torch.randint(0, 20, shape), torch.randint(0, 20, shape2)
        else:
            x, x2 = torch.randn(*shape), torch.randn(*shape2)
        path = os.path.join(out, name + ".onnx")
        mode = torch.onnx.TrainingMode.TRAINING if name in TRAINING else torch.onnx.TrainingMode.EVAL
        torch.onnx.export(model, (x,), path, opset_version=opset, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": axes, "y": axes},
                          training=mode, do_constant_folding=name not in TRAINING)
        with torch.no_grad():
            for suffix, inp in (("", x), ("2", x2)):
                np.save(os.path.join(out, f"{name}.x{suffix}.npy"), inp.numpy())
                np.save(os.path.join(out, f"{name}.y{suffix}.npy"), model(inp).numpy())
        print(f"{name}: opset {opset}, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
