#!/usr/bin/env python3
"""bench/compare_steps.py - the training steps of docs/performance.md side by side in one
run: dzc compiled, PyTorch eager and dzc eager, as times, ratios and peak memory.

Usage:
  bench/compare_steps.py [--build DIR] [--threads 2] [--steps 100] [--runs 3] [--markdown]

dzc: build/bench/dz_bench_steps (a Release build; `bench/run.sh` builds it), one process
per (workload, mode), run --runs times; the median of the runs' median step times is
reported, with the compile time of the first call (trace + compile, from dz::compile's
DZ_VERBOSE log) and the peak resident memory of the timed steps above the process's
memory before the model existed (dz_bench_steps explains it).

PyTorch: Debian's (`apt-get install python3-torch libopenblas0-pthread`) run by
/usr/bin/python3 at its best (compare_torch.py says how: OpenBLAS's pthread build, glibc
keeping freed memory, no thread oversubscription; each process runs both thread
configurations and keeps the faster), the same steps, the same measurement of time and
memory, one process per workload and configuration.

The MLP's GEMM floor is measured in the same run: `dz_bench_steps mlp gemm` times the
step's five matrix products alone with the runtime's oneDNN GEMM.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_torch import run_torch_worker, torch_configs  # noqa: E402  (the same set-up)


# ---- the PyTorch side (runs in a subprocess under /usr/bin/python3) ---------------------
def status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def torch_worker(workload, threads, steps, aot=False):
    """One workload's steps; with `aot` the forward (loss of the parameters) goes through
    PyTorch's own compiler, functorch's aot_function with TorchScript (ts_compile), which
    compiles the forward and backward graphs."""
    import torch
    import torch.nn.functional as F

    def compiled(fn):
        if not aot:
            return fn
        from functorch.compile import aot_function, ts_compile
        return aot_function(fn, fw_compiler=ts_compile, bw_compiler=ts_compile)

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    base_mb = status_mb("VmRSS")
    if workload == "mlp":  # the step of bench/steps.cpp: x @ W + b as DeZero's linear
        x = torch.randn(100, 784)
        t = torch.arange(100) % 10
        W1 = (torch.randn(784, 1000) * (1 / 784) ** 0.5).requires_grad_()
        b1 = torch.zeros(1000, requires_grad=True)
        W2 = (torch.randn(1000, 10) * (1 / 1000) ** 0.5).requires_grad_()
        b2 = torch.zeros(10, requires_grad=True)
        params = [W1, b1, W2, b2]
        forward = compiled(lambda W1, b1, W2, b2, x, t: F.cross_entropy(
            torch.addmm(b2, torch.relu(torch.addmm(b1, x, W1)), W2), t))

        def step():
            loss = forward(W1, b1, W2, b2, x, t)
            for p in params:
                p.grad = None
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p.sub_(0.01 * p.grad)
            return loss.item()
    else:
        x = torch.randn(64, 1, 28, 28)
        t = torch.arange(64) % 10
        W1 = (torch.randn(8, 1, 3, 3) * (2 / 9) ** 0.5).requires_grad_()
        b1 = torch.zeros(8, requires_grad=True)
        W2 = (torch.randn(16, 8, 3, 3) * (2 / 72) ** 0.5).requires_grad_()
        b2 = torch.zeros(16, requires_grad=True)
        W3 = (torch.randn(576, 10) * (1 / 576) ** 0.5).requires_grad_()
        b3 = torch.zeros(10, requires_grad=True)
        params = [W1, b1, W2, b2, W3, b3]

        def loss_of(W1, b1, W2, b2, W3, b3, x, t):
            h = F.max_pool2d(torch.relu(F.conv2d(x, W1, b1, padding=1)), 2)
            h = F.max_pool2d(torch.relu(F.conv2d(h, W2, b2)), 2)
            return F.cross_entropy(torch.addmm(b3, h.reshape(64, 576), W3), t)
        forward = compiled(loss_of)

        def step():
            loss = forward(W1, b1, W2, b2, W3, b3, x, t)
            for p in params:
                p.grad = None
            loss.backward()
            return loss.item()

    for _ in range(4):
        step()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    ms = []
    loss = 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = step()
        ms.append((time.perf_counter() - t0) * 1e3)
    ms.sort()
    json.dump({"workload": workload, "mode": "torch-aot" if aot else "torch", "median_ms": ms[len(ms) // 2],
               "min_ms": ms[0], "peak_mb": status_mb("VmHWM") - base_mb, "loss": loss,
               "torch_version": torch.__version__}, sys.stdout)


# ---- the driver --------------------------------------------------------------------------
def run_torch(workload, args, aot=False):
    """The workload in each configuration of torch_configs; the faster, with its name."""
    best = None
    for name, torch_threads, blas_threads in torch_configs(args.threads):
        r = run_torch_worker(__file__, [workload, "--steps", str(args.steps)] +
                             (["--aot"] if aot else []), torch_threads, blas_threads)
        if r and (best is None or r["median_ms"] < best["median_ms"]):
            best = dict(r, config=name)
    return best


def run_dzc(workload, mode, args):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), DZ_VERBOSE="1")
    exe = os.path.join(args.build, "bench", "dz_bench_steps")
    proc = subprocess.run([exe, workload, mode, str(args.steps)], env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        sys.exit(f"{exe} {workload} {mode} failed ({proc.returncode}):\n{proc.stderr}")
    result = json.loads(proc.stdout)
    # The last "traced signature" line is the step's (the first one loads the compiler).
    traces = re.findall(r"trace ([0-9.]+) ms, compile ([0-9.]+) ms", proc.stderr)
    if mode == "compiled" and traces:
        result["trace_ms"], result["compile_ms"] = map(float, traces[-1])
    return result


def median_of(runs, key):
    values = [r[key] for r in runs if r and key in r]
    return statistics.median(values) if values else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("DZ_BUILD_DIR", os.path.join(REPO, "build")))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--torch-worker")
    ap.add_argument("--aot", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args.torch_worker, args.threads, args.steps, args.aot)

    rows = {}
    for workload, modes in (("mlp", ("gemm", "compiled", "eager")), ("cnn", ("compiled", "eager"))):
        for mode in modes + ("torch", "torch-aot"):
            runs = [run_torch(workload, args, aot=mode == "torch-aot") if mode.startswith("torch")
                    else run_dzc(workload, mode, args) for _ in range(args.runs)]
            rows[(workload, mode)] = {k: median_of(runs, k) for k in
                                      ("median_ms", "min_ms", "peak_mb", "trace_ms", "compile_ms")}
            if mode.startswith("torch"):
                configs = sorted({r["config"] for r in runs if r})
                rows[(workload, mode)]["config"] = " / ".join(configs)

    def fmt(v, spec=".3f"):
        return "-" if v is None else format(v, spec)

    sep = " | " if args.markdown else "  "
    head = ["step", "dzc compiled ms", "PyTorch ms", "PyTorch AOT ms", "dzc eager ms",
            "compiled/PyTorch", "compiled/PyTorch AOT",
            "eager/compiled", "compiled/GEMM floor", "peak MB compiled / PyTorch / eager",
            "trace + compile ms"]
    lines = [head]
    for workload in ("mlp", "cnn"):
        c, t, e = rows[(workload, "compiled")], rows[(workload, "torch")], rows[(workload, "eager")]
        a = rows[(workload, "torch-aot")]
        floor = rows.get((workload, "gemm"), {}).get("median_ms")
        ratio = lambda a, b: None if a is None or b is None else a / b
        lines.append([workload, fmt(c["median_ms"]), fmt(t["median_ms"]), fmt(a["median_ms"]),
                      fmt(e["median_ms"]), fmt(ratio(c["median_ms"], t["median_ms"]), ".2f"),
                      fmt(ratio(c["median_ms"], a["median_ms"]), ".2f"),
                      fmt(ratio(e["median_ms"], c["median_ms"]), ".2f"),
                      fmt(ratio(c["median_ms"], floor), ".2f") + (f" (floor {floor:.3f} ms)" if floor else ""),
                      f"{fmt(c['peak_mb'], '.1f')} / {fmt(t['peak_mb'], '.1f')} / {fmt(e['peak_mb'], '.1f')}",
                      f"{fmt(c['trace_ms'], '.0f')} + {fmt(c['compile_ms'], '.0f')}"])
    if args.markdown:
        print("| " + " | ".join(lines[0]) + " |")
        print("|" + "---|" * len(lines[0]))
        for line in lines[1:]:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
        for line in lines:
            print(sep.join(v.ljust(w) for v, w in zip(line, widths)))
    for workload in ("mlp", "cnn"):
        print(f"PyTorch's best configuration for {workload}: "
              f"{rows[(workload, 'torch')].get('config') or '-'} (eager), "
              f"{rows[(workload, 'torch-aot')].get('config') or '-'} (AOT)")
    print(f"\n{args.threads} threads, {args.steps} steps per process, median of {args.runs} "
          f"processes; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
