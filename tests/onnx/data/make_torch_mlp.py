# make_torch_mlp.py - writes torch_mlp.onnx, the PyTorch-exported model of the trainable
# import tests (tests/onnx/trainable_test.cpp), and torch_mlp_io.npz: an input, what PyTorch
# computes for it in eval mode (y), and in training mode without dropout (y_train) with
# the running statistics ONNX's BatchNormalization training_mode gives after that batch
# (running_mean, running_var: ONNX updates the variance with the biased batch variance,
# PyTorch with the unbiased one). Run with torch 1.13: python3 make_torch_mlp.py
import numpy as np
import torch


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 6)
        self.bn = torch.nn.BatchNorm1d(6)
        self.drop = torch.nn.Dropout(0.1)
        self.fc2 = torch.nn.Linear(6, 3)

    def forward(self, x):
        return self.fc2(self.drop(torch.tanh(self.bn(self.fc1(x)))))


torch.manual_seed(0)
model = Mlp().double()
with torch.no_grad():  # running statistics that are not the identity
    model.bn.running_mean.copy_(torch.randn(6, dtype=torch.float64) * 0.1)
    model.bn.running_var.copy_(torch.rand(6, dtype=torch.float64) + 0.5)
model.eval()
x = torch.randn(5, 4, dtype=torch.float64)
torch.onnx.export(model, (x,), "torch_mlp.onnx", input_names=["x"], output_names=["y"],
                  dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=13,
                  do_constant_folding=False, training=torch.onnx.TrainingMode.EVAL)
with torch.no_grad():
    y = model(x)
    m = model.bn.momentum
    rm0, rv0 = model.bn.running_mean.clone(), model.bn.running_var.clone()
    h = model.fc1(x)
    running_mean = (1 - m) * rm0 + m * h.mean(0)
    running_var = (1 - m) * rv0 + m * h.var(0, unbiased=False)
    model.train()
    model.drop.eval()
    y_train = model(x)
np.savez("torch_mlp_io.npz", x=x.numpy(), y=y.numpy(), y_train=y_train.numpy(),
         running_mean=running_mean.numpy(), running_var=running_var.numpy())
