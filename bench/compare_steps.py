#!/usr/bin/env python3
"""bench/compare_steps.py - the steps of docs/performance.md side by side in one run: dzc
compiled, dzc eager, PyTorch eager and PyTorch's own compiler, as times, ratios and peak
memory.

Usage:
  bench/compare_steps.py [--build DIR] [--threads 2] [--min-time 0.2] [--batches 5]
                         [--runs 3] [--workloads mlp,cnn,spiral,lstm,tanh4,tiny] [--markdown]

The workloads (bench/steps.cpp says what each computes; the PyTorch versions below are
the same steps, same shapes, float32):
  mlp     MLP 784-1000-10, batch 100, softmax cross entropy, SGD update
  cnn     conv8-pool-conv16-pool-linear, batch 64 of 1x28x28, forward + backward
  spiral  the book's spiral step: Linear(2,10), sigmoid, Linear(10,3), batch 30, softmax
          cross entropy, SGD lr 1.0 (zero the gradients, backward, update)
  lstm    LSTM(100) (PyTorch: nn.LSTMCell in a Python loop) + Linear(100,1) over a chunk of
          30 time steps of batch 30, input size 1, the state starting at zeros, the sum of
          the 30 steps' mean squared errors, backward, Adam lr 1e-3
  tanh4   the 4th derivative of tanh at the scalar 1 by 4 create_graph backward passes
          (PyTorch: torch.autograd.grad(..., create_graph=True))
  tiny    x * 2 on 4 floats: the fixed cost of a call

Timing, both sides alike: a step is timed in batches of N steps, N grown until one batch
takes at least --min-time seconds, then --batches batches are timed; a process reports the
median over its batches of (batch time / N), and the table the median over --runs
processes. Steps of a microsecond are timed correctly so, without a timer call per step.

dzc: build/bench/dz_bench_steps (a Release build; `bench/run.sh` builds it) with
--min-time and --batches, one process per (workload, mode), OMP_NUM_THREADS=--threads.
The compile time of the first call (trace + compile) comes from dz::compile's DZ_VERBOSE
log; peak memory is the resident set's peak during the timed steps above the process's
memory before the model existed (dz_bench_steps explains it).

PyTorch: Debian's (`apt-get install python3-torch libopenblas0-pthread`) run by
/usr/bin/python3 at its best (compare_torch.py says how: OpenBLAS's pthread build, glibc
keeping freed memory, no thread oversubscription; each workload runs in both thread
configurations and the faster is kept), one process per workload and configuration, the
same timing and memory measurement. Its optimizers run as fast as 1.13 allows: gradients
set to None instead of zeroed, the foreach (multi-tensor) update where that is faster.
"PyTorch AOT" is PyTorch 1.13's compiler: the step's loss as a function of the parameters
(or tanh4's derivative as a function of x, tiny's x * 2) through functorch's aot_function
with ts_compile (TorchScript) for the forward and backward graphs; "n/a" where it fails,
with the reason below the table.

The MLP's GEMM floor is measured in the same run: `dz_bench_steps mlp gemm` times the
step's five matrix products alone with the runtime's oneDNN GEMM, and dz_bench_gemm times
each of them, and square products, on its own (a second table: time and GFLOP/s).
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

WORKLOADS = ("mlp", "cnn", "spiral", "lstm", "tanh4", "tiny")


# ---- the PyTorch side (runs in a subprocess under /usr/bin/python3) ---------------------
def optimizer_step(loss_of, optimizer):
    """A PyTorch training step: the loss, the gradients set to None, backward, the update."""
    def step():
        loss = loss_of()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss
    return step


def status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def time_batches(step, min_time, batches):
    """bench/steps.cpp's --min-time timing: batches of n steps, n grown until a batch takes
    min_time seconds (those are warm-up), then `batches` timed ones; ms per step of each
    timed batch, and the last step's result."""
    out = None
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            out = step()
        dt = time.perf_counter() - t0
        if dt >= min_time:
            break
        n = max(2 * n, int(n * min_time / max(dt, 1e-9) * 1.2))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    ms = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(n):
            out = step()
        ms.append((time.perf_counter() - t0) * 1e3 / n)
    return ms, n, out


def torch_step(workload, aot):
    """The workload's step in PyTorch: a function of no arguments returning the step's
    result (a tensor; the loss of a training step). With `aot` the loss (or tanh4's
    derivative, tiny's product) as a function of tensors goes through functorch's
    aot_function with ts_compile, which compiles the forward and backward graphs."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def compiled(fn):
        if not aot:
            return fn
        from functorch.compile import aot_function, ts_compile
        return aot_function(fn, fw_compiler=ts_compile, bw_compiler=ts_compile)

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
            return loss
        return step

    if workload == "cnn":
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
            return loss
        return step

    if workload == "spiral":  # step 48: MLP((10, 3)) with sigmoid, SGD lr 1.0
        x = torch.randn(30, 2)
        t = torch.arange(30) % 3
        l1, l2 = nn.Linear(2, 10), nn.Linear(10, 3)
        params = [l1.weight, l1.bias, l2.weight, l2.bias]
        optimizer = torch.optim.SGD(params, lr=1.0, foreach=True)
        if aot:
            forward = compiled(lambda w1, b1, w2, b2, x, t: F.cross_entropy(
                F.linear(torch.sigmoid(F.linear(x, w1, b1)), w2, b2), t))
            loss_of = lambda: forward(*params, x, t)  # noqa: E731
        else:
            loss_of = lambda: F.cross_entropy(l2(torch.sigmoid(l1(x))), t)  # noqa: E731

        return optimizer_step(loss_of, optimizer)

    if workload == "lstm":  # step 60: one truncated-BPTT chunk, the state reset to zeros
        xs = torch.randn(30, 30, 1)
        ts = torch.randn(30, 30, 1)
        cell, fc = nn.LSTMCell(1, 100), nn.Linear(100, 1)
        params = list(cell.parameters()) + list(fc.parameters())
        optimizer = torch.optim.Adam(params, lr=1e-3, foreach=True)

        def chunk_loss(w_ih, w_hh, b_ih, b_hh, w, b, xs, ts):
            state = (torch.zeros(30, 100), torch.zeros(30, 100))
            loss = None
            for i in range(xs.shape[0]):
                state = torch.lstm_cell(xs[i], state, w_ih, w_hh, b_ih, b_hh)
                l = F.mse_loss(F.linear(state[0], w, b), ts[i])
                loss = l if loss is None else loss + l
            return loss

        if aot:
            forward = compiled(chunk_loss)
            loss_of = lambda: forward(*params, xs, ts)  # noqa: E731
        else:
            def loss_of():
                state, loss = None, None  # nn.LSTMCell starts from zeros
                for i in range(xs.shape[0]):
                    state = cell(xs[i], state)
                    l = F.mse_loss(fc(state[0]), ts[i])
                    loss = l if loss is None else loss + l
                return loss

        return optimizer_step(loss_of, optimizer)

    if workload == "tanh4":  # step 35: a fresh leaf each call, 4 create_graph gradients
        x = torch.tensor(1.0)

        def derivative(x):
            x = x.detach().requires_grad_()
            y = torch.tanh(x)
            for _ in range(4):
                y, = torch.autograd.grad(y, x, create_graph=True)
            return y
        return lambda f=compiled(derivative): f(x)

    if workload == "tiny":
        x = torch.ones(4)
        return lambda f=compiled(lambda x: x * 2): f(x)
    raise ValueError(workload)


def torch_worker(workload, threads, min_time, batches, aot=False):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    base_mb = status_mb("VmRSS")
    result = {"workload": workload, "mode": "torch-aot" if aot else "torch",
              "torch_version": torch.__version__}
    try:
        step = torch_step(workload, aot)
        for _ in range(4):
            step()
    except Exception as e:  # PyTorch's compiler does not take every step
        first = (str(e).strip().splitlines() or [""])[0]
        json.dump(dict(result, error=f"{type(e).__name__}: {first[:160]}"), sys.stdout)
        return
    ms, per_batch, out = time_batches(step, min_time, batches)
    json.dump(dict(result, median_ms=statistics.median(ms), min_ms=min(ms),
                   steps_per_batch=per_batch, batches=batches,
                   peak_mb=status_mb("VmHWM") - base_mb, loss=float(out.sum().item())),
              sys.stdout)


# ---- the driver --------------------------------------------------------------------------
def run_torch(workload, args, aot=False):
    """The workload in each configuration of torch_configs; the faster, with its name (or
    the reason it could not run)."""
    best, error = None, None
    for name, torch_threads, blas_threads in torch_configs(args.threads):
        r = run_torch_worker(__file__, [workload, "--min-time", str(args.min_time),
                                        "--batches", str(args.batches)] +
                             (["--aot"] if aot else []), torch_threads, blas_threads)
        if r and "error" in r:
            error = r["error"]
        elif r and (best is None or r["median_ms"] < best["median_ms"]):
            best = dict(r, config=name)
    return best or ({"error": error} if error else None)


def run_dzc(workload, mode, args):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), DZ_VERBOSE="1")
    exe = os.path.join(args.build, "bench", "dz_bench_steps")
    proc = subprocess.run([exe, workload, mode, "1", "--min-time", str(args.min_time),
                           "--batches", str(args.batches)], env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        sys.exit(f"{exe} {workload} {mode} failed ({proc.returncode}):\n{proc.stderr}")
    result = json.loads(proc.stdout)
    # The last "traced signature" line is the step's (the first one loads the compiler).
    traces = re.findall(r"trace ([0-9.]+) ms, compile ([0-9.]+) ms", proc.stderr)
    if mode == "compiled" and traces:
        result["trace_ms"], result["compile_ms"] = map(float, traces[-1])
    return result


def run_gemm_rates(args):
    """dz_bench_gemm's products (the MLP step's and square ones): one dict per product."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    exe = os.path.join(args.build, "bench", "dz_bench_gemm")
    proc = subprocess.run([exe, "--min-time", str(args.min_time), "--batches", str(args.batches)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{exe} failed ({proc.returncode}):\n{proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def print_table(lines, markdown):
    if markdown:
        print("| " + " | ".join(lines[0]) + " |")
        print("| --- |" + " ---: |" * (len(lines[0]) - 1))
        for line in lines[1:]:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(l[i]) for l in lines) for i in range(len(lines[0]))]
        for line in lines:
            print("  ".join(v.ljust(w) for v, w in zip(line, widths)))


def median_of(runs, key):
    values = [r[key] for r in runs if r and key in r]
    return statistics.median(values) if values else None


def fmt_time(ms):
    """A time given in ms, in ms or µs with 3 significant digits."""
    if ms is None:
        return "n/a"
    return f"{ms:.3g} ms" if ms >= 1 else f"{ms * 1e3:.3g} µs"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("DZ_BUILD_DIR", os.path.join(REPO, "build")))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=0.2,
                    help="seconds of one timed batch of steps (default 0.2)")
    ap.add_argument("--batches", type=int, default=5,
                    help="timed batches per process (default 5)")
    ap.add_argument("--runs", type=int, default=3, help="processes per measurement (default 3)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    help="comma-separated subset of " + ",".join(WORKLOADS))
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--torch-worker")
    ap.add_argument("--aot", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args.torch_worker, args.threads, args.min_time, args.batches, args.aot)
    workloads = [w for w in args.workloads.split(",") if w]
    bad = [w for w in workloads if w not in WORKLOADS]
    if bad or not workloads:
        ap.error(f"--workloads: unknown {', '.join(bad) or '(none given)'}; "
                 f"valid: {', '.join(WORKLOADS)}")
    if not (args.min_time > 0 and args.min_time < 60) or args.batches < 1 or args.runs < 1:
        ap.error("--min-time must be in (0, 60) seconds, --batches and --runs at least 1")
    exe = os.path.join(args.build, "bench", "dz_bench_steps")
    if not os.path.exists(exe):
        sys.exit(f"{exe} not found: build it first (bench/run.sh)")
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.1f} before the run: other work shares the CPUs,"
              " so the times below are not fit for docs/performance.md", file=sys.stderr)

    rows, errors = {}, {}
    for workload in workloads:
        modes = ("gemm", "compiled", "eager") if workload == "mlp" else ("compiled", "eager")
        for mode in modes + ("torch", "torch-aot"):
            runs = [run_torch(workload, args, aot=mode == "torch-aot") if mode.startswith("torch")
                    else run_dzc(workload, mode, args) for _ in range(args.runs)]
            ok = [r for r in runs if r and "error" not in r]
            rows[(workload, mode)] = {k: median_of(ok, k) for k in
                                      ("median_ms", "min_ms", "peak_mb", "trace_ms", "compile_ms")}
            if mode.startswith("torch"):
                rows[(workload, mode)]["config"] = " / ".join(sorted({r["config"] for r in ok}))
                if not ok and any(r and "error" in r for r in runs):
                    errors[(workload, mode)] = next(r["error"] for r in runs if r and "error" in r)

    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    def ratio(a, b):
        return None if a is None or b is None else a / b

    head = ["step", "dzc compiled", "dzc eager", "PyTorch", "PyTorch AOT", "compiled/PyTorch",
            "compiled/PyTorch AOT", "eager/compiled", "compiled/GEMM floor",
            "peak MB compiled / eager / PyTorch", "trace + compile ms"]
    lines = [head]
    for workload in workloads:
        c, e = rows[(workload, "compiled")], rows[(workload, "eager")]
        t, a = rows[(workload, "torch")], rows[(workload, "torch-aot")]
        floor = rows.get((workload, "gemm"), {}).get("median_ms")
        lines.append([workload, fmt_time(c["median_ms"]), fmt_time(e["median_ms"]),
                      fmt_time(t["median_ms"]), fmt_time(a["median_ms"]),
                      fmt(ratio(c["median_ms"], t["median_ms"]), ".3g"),
                      fmt(ratio(c["median_ms"], a["median_ms"]), ".3g"),
                      fmt(ratio(e["median_ms"], c["median_ms"]), ".3g"),
                      fmt(ratio(c["median_ms"], floor), ".2f") +
                      (f" (floor {floor:.3f} ms)" if floor else ""),
                      f"{fmt(c['peak_mb'], '.1f')} / {fmt(e['peak_mb'], '.1f')} / "
                      f"{fmt(t['peak_mb'], '.1f')}",
                      f"{fmt(c['trace_ms'], '.0f')} + {fmt(c['compile_ms'], '.0f')}"])
    print_table(lines, args.markdown)
    if "mlp" in workloads:
        # The MLP step's products one by one (their sum is the floor above) next to square
        # products: how far from the machine's GEMM rate each shape runs.
        print()
        gemm = [["product", "m x n x k", "transposed", "time", "GFLOP/s"]]
        for r in run_gemm_rates(args):
            gemm.append([r["name"], f"{r['m']} x {r['n']} x {r['k']}", r["transpose"],
                         fmt_time(r["median_ms"]), f"{r['gflops']:.0f}"])
        print_table(gemm, args.markdown)
    print()
    for workload in workloads:
        print(f"PyTorch's best configuration for {workload}: "
              f"{rows[(workload, 'torch')].get('config') or '-'} (eager), "
              f"{rows[(workload, 'torch-aot')].get('config') or '-'} (AOT)")
    for (workload, mode), error in errors.items():
        print(f"{workload}: {'PyTorch AOT' if mode == 'torch-aot' else 'PyTorch'} n/a: {error}")
    print(f"\n{args.threads} threads; per process the median of {args.batches} batches of "
          f">= {args.min_time} s, per step; median of {args.runs} processes; "
          f"{os.cpu_count()} CPUs; load average {load:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
