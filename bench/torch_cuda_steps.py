#!/usr/bin/env python3
"""bench/torch_cuda_steps.py - the MLP and CNN steps of bench/steps.cpp in PyTorch on a GPU,
eager and through torch.compile, for the comparison with `dz_bench_steps WORKLOAD MODE
--device cuda` (the GPU bundle's run.sh runs both; docs/cuda.md).

Usage: bench/torch_cuda_steps.py [--steps 50] [--device cuda] [--workloads mlp,cnn]
                                 [--modes eager,compile]

The steps are compare_steps.py's, on the device: mlp is MLP 784-1000-10, batch 100, softmax
cross entropy and an SGD update (lr 0.01); cnn is conv8-pool-conv16-pool-linear, batch 64 of
1x28x28, forward + backward. Each (workload, mode) runs 5 warm-up steps (torch.compile
compiles in the first), then STEPS steps timed one by one, each ending with a device
synchronisation; prints one JSON object per line: median and minimum ms per step, the first
step's ms, and the PyTorch version. A mode that fails prints an object with its "error".
"""
import argparse
import json
import statistics
import sys
import time


def make_step(workload, device, compile_it):
    import torch
    import torch.nn.functional as F

    def maybe_compiled(fn):
        return torch.compile(fn) if compile_it else fn

    g = torch.Generator().manual_seed(0)

    def randn(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(device)

    if workload == "mlp":
        x = randn(100, 784)
        t = (torch.arange(100) % 10).to(device)
        params = [randn(784, 1000, scale=(1 / 784) ** 0.5), torch.zeros(1000, device=device),
                  randn(1000, 10, scale=(1 / 1000) ** 0.5), torch.zeros(10, device=device)]
        for p in params:
            p.requires_grad_()

        def loss_of(W1, b1, W2, b2, x, t):
            return F.cross_entropy(torch.addmm(b2, torch.relu(torch.addmm(b1, x, W1)), W2), t)
        forward = maybe_compiled(loss_of)

        def step():
            loss = forward(*params, x, t)
            for p in params:
                p.grad = None
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p.sub_(0.01 * p.grad)
            return loss
        return step

    if workload == "cnn":
        x = randn(64, 1, 28, 28)
        t = (torch.arange(64) % 10).to(device)
        params = [randn(8, 1, 3, 3, scale=(2 / 9) ** 0.5), torch.zeros(8, device=device),
                  randn(16, 8, 3, 3, scale=(2 / 72) ** 0.5), torch.zeros(16, device=device),
                  randn(576, 10, scale=(1 / 576) ** 0.5), torch.zeros(10, device=device)]
        for p in params:
            p.requires_grad_()

        def loss_of(W1, b1, W2, b2, W3, b3, x, t):
            h = F.max_pool2d(torch.relu(F.conv2d(x, W1, b1, padding=1)), 2)
            h = F.max_pool2d(torch.relu(F.conv2d(h, W2, b2)), 2)
            return F.cross_entropy(torch.addmm(b3, h.reshape(64, 576), W3), t)
        forward = maybe_compiled(loss_of)

        def step():
            loss = forward(*params, x, t)
            for p in params:
                p.grad = None
            loss.backward()
            return loss
        return step

    raise ValueError(f"unknown workload {workload!r} (valid: mlp, cnn)")


def measure(workload, mode, device, steps):
    import torch
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    step = make_step(workload, device, mode == "compile")
    t0 = time.perf_counter()
    loss = step()
    sync()
    first_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(4):
        step()
    sync()
    ms = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = step()
        sync()
        ms.append((time.perf_counter() - t0) * 1e3)
    return {"framework": "pytorch", "version": torch.__version__, "workload": workload,
            "mode": mode, "device": device, "steps": steps,
            "median_ms": round(statistics.median(ms), 6), "min_ms": round(min(ms), 6),
            "first_call_ms": round(first_ms, 3), "loss": float(loss)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--workloads", default="mlp,cnn")
    ap.add_argument("--modes", default="eager,compile")
    args = ap.parse_args()
    if args.steps < 1:
        ap.error("--steps must be at least 1")
    failed = False
    for w in args.workloads.split(","):
        for m in args.modes.split(","):
            if m not in ("eager", "compile"):
                ap.error(f"unknown mode {m!r} (valid: eager, compile)")
            try:
                out = measure(w, m, args.device, args.steps)
            except Exception as e:  # one failing mode (torch.compile's toolchain) is reported
                out = {"framework": "pytorch", "workload": w, "mode": m, "device": args.device,
                       "error": f"{type(e).__name__}: {e}"[:2000]}
                failed = True
            print(json.dumps(out), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
