# make_torch_mlp.py - writes an MLP for Fashion-MNIST exported by PyTorch, for
# finetune_onnx --model: input "x" (N, 784) float32 in [0, 1], output "y" (N, 10) scores.
# It is trained for --steps SGD steps (default 50) on the first training images, so that
# fine-tuning in dzc starts from a model trained elsewhere.
#
# Usage: python3 models/make_torch_mlp.py [--out torch_fashion_mlp.onnx] [--steps 50]
#                                         [--data /usr/share/datasets/fashion-mnist]
import argparse
import gzip
import os

import numpy as np
import torch


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


parser = argparse.ArgumentParser()
parser.add_argument("--out", default="torch_fashion_mlp.onnx")
parser.add_argument("--steps", type=int, default=50)
parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
a = parser.parse_args()

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
if a.steps > 0:
    x = idx(os.path.join(a.data, "train-images-idx3-ubyte.gz")).reshape(-1, 784)
    t = idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz"))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(a.steps):
        xb = torch.tensor(x[step * 100:(step + 1) * 100], dtype=torch.float32) / 255
        tb = torch.tensor(t[step * 100:(step + 1) * 100], dtype=torch.int64)
        loss = torch.nn.functional.cross_entropy(model(xb), tb)
        opt.zero_grad()
        loss.backward()
        opt.step()
model.eval()
torch.onnx.export(model, (torch.zeros(1, 784),), a.out, input_names=["x"], output_names=["y"],
                  dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=13)
print(f"wrote {a.out}")
