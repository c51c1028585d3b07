#!/usr/bin/python3
"""PyTorch's side of the differential suite (torch_diff.cpp), one process for all cases.

Usage: torch_reference.py CASES.json INPUTS.npz OUT.npz

CASES.json lists the cases: {"name", "expr", "order", "args": [{"grad": bool}, ...]}, and
"book" (an expression of the book's semantics, for a documented difference) when present.
INPUTS.npz holds, for case i, its arguments c<i>_a<j>, the cotangent c<i>_g of the output
and, for second derivatives, the weights c<i>_h<j> of the first derivatives.

For each expression (the case's own, and "book" with the prefix b) it writes to OUT.npz:
  c<i>_y      the value of expr(a0, a1, ...), as float64
  c<i>_g<j>   d sum(y * g) / d a_j                      (order >= 1, for the grad args)
  c<i>_gg<j>  d sum_k sum(g_k * h_k) / d a_j            (order 2)
When PyTorch raises, the line "c<i><TAB>message" (or "bc<i>...") goes to OUT.npz.errors,
whose first line is "torch <version>". Everything runs in float64.
"""
import json
import math  # noqa: F401  (for the expressions)
import sys

import numpy as np
import torch
import torch.nn.functional as F  # noqa: F401  (for the expressions)

torch.set_grad_enabled(True)
inf = math.inf
nan = math.nan


def book_extremum(x, dims, keepdim, largest):
    """max/min whose gradient goes in full to every tied extremum (DeZero's Max/Min)."""
    dims = tuple(dims) if dims else tuple(range(x.dim()))
    y = torch.amax(x, dims, keepdim=True) if largest else torch.amin(x, dims, keepdim=True)
    y = y.detach()
    mask = (x == y).to(x.dtype)
    out = y + ((x - x.detach()) * mask).sum(dims, keepdim=True) if dims else x
    if not keepdim and dims:
        for d in sorted(dims, reverse=True):
            out = out.squeeze(d)
    return out


def book_max(x, dims=(), keepdim=False):
    return book_extremum(x, dims, keepdim, True)


def book_min(x, dims=(), keepdim=False):
    return book_extremum(x, dims, keepdim, False)


def bn_running(x, momentum):
    """The running mean and variance after one train-mode batch_norm from zeros and ones."""
    c = x.shape[1]
    mean = torch.zeros(c, dtype=x.dtype)
    var = torch.ones(c, dtype=x.dtype)
    F.batch_norm(x, mean, var, None, None, training=True, momentum=momentum, eps=2e-5)
    return torch.cat([mean, var])


def run(expr, args, grad_flags, g, hs, order):
    inputs = []
    for a, grad in zip(args, grad_flags):
        t = torch.from_numpy(a)
        if grad:
            t = t.clone().requires_grad_(True)
        inputs.append(t)
    env = {f"a{j}": t for j, t in enumerate(inputs)}
    y = eval(expr, globals(), env)  # noqa: S307 - the expressions are the suite's own
    if not torch.is_tensor(y):
        y = torch.tensor(y)
    out = {"y": y.detach().to(torch.float64).numpy()}
    if order < 1:
        return out
    diff = [t for t, grad in zip(inputs, grad_flags) if grad]
    gs = [torch.zeros_like(t) for t in diff]
    if y.requires_grad:
        total = (y * torch.from_numpy(g)).sum()
        got = torch.autograd.grad(total, diff, create_graph=order >= 2, allow_unused=True)
        gs = [torch.zeros_like(t) if v is None else v for t, v in zip(diff, got)]
    for j, v in enumerate(gs):
        out[f"g{j}"] = v.detach().numpy()
    if order < 2:
        return out
    terms = [(v * torch.from_numpy(h)).sum() for v, h in zip(gs, hs) if v.requires_grad]
    ggs = [torch.zeros_like(t) for t in diff]
    if terms:
        got = torch.autograd.grad(sum(terms), diff, allow_unused=True)
        ggs = [torch.zeros_like(t) if v is None else v for t, v in zip(diff, got)]
    for j, v in enumerate(ggs):
        out[f"gg{j}"] = v.detach().numpy()
    return out


def main():
    cases_path, inputs_path, out_path = sys.argv[1:4]
    with open(cases_path) as f:
        cases = json.load(f)
    data = np.load(inputs_path)
    results, errors = {}, {}
    for i, case in enumerate(cases):
        grad_flags = [a["grad"] for a in case["args"]]
        args = [data[f"c{i}_a{j}"] for j in range(len(grad_flags))]
        order = case["order"]
        g = data[f"c{i}_g"] if order >= 1 else None
        ndiff = sum(grad_flags)
        hs = [data[f"c{i}_h{j}"] for j in range(ndiff)] if order >= 2 else []
        for prefix, key in (("", "expr"), ("b", "book")):
            if not case.get(key):
                continue
            try:
                for k, v in run(case[key], args, grad_flags, g, hs, order).items():
                    results[f"{prefix}c{i}_{k}"] = np.array(v, dtype=np.float64)
            except Exception as e:  # noqa: BLE001 - every failure is reported per case
                errors[f"{prefix}c{i}"] = f"{type(e).__name__}: {e}"
    np.savez(out_path, **results)
    with open(out_path + ".errors", "w") as f:
        f.write(f"torch {torch.__version__}\n")
        for key, message in errors.items():
            f.write(key + "\t" + " ".join(message.split()) + "\n")


if __name__ == "__main__":
    main()
