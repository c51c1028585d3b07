#!/usr/bin/env python3
"""bench/compare_torch.py - runs dzc's eager benchmarks and the same work in PyTorch eager,
then prints the times and the ratio dzc/torch (below 1: dzc is faster).

Usage:
  bench/compare_torch.py [--dzc-bench PATH] [--threads 2] [--min-time 0.5]
                         [--repetitions 5] [--markdown] [--json FILE]

dzc: the Google Benchmark binary dz_bench_eager of a Release build (bench/run.sh builds it;
default path <repo>/build/bench/dz_bench_eager, or $DZ_BUILD_DIR/bench/dz_bench_eager),
run with --benchmark_format=json and OMP_NUM_THREADS=<threads>.

PyTorch: Debian's, `apt-get install python3-torch libopenblas0-pthread`, run as
/usr/bin/python3 (the python3 first on PATH may be another one without torch) with
LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread (Debian's default BLAS for
torch is much slower), MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ = 1e9 (no page
faults of fresh mmaps every step), and without oversubscription: once with one torch thread
and OpenBLAS's <threads> threads, once with <threads> torch threads and OPENBLAS_NUM_THREADS=1;
the faster of the two is reported per benchmark, with its name.

Both sides report the median over --repetitions runs of at least --min-time seconds each,
wall-clock time per iteration. This script itself needs only the standard library.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_PYTHON = "/usr/bin/python3"
OPENBLAS_PTHREAD = "/usr/lib/x86_64-linux-gnu/openblas-pthread"

# (dzc benchmark name, torch workload name, what it measures)
BENCHMARKS = [
    ("BM_EagerMLPTrainStep", "mlp_train_step", "MLP 784-1000-10 train step, batch 100, f32"),
    ("BM_Add", "add", "a + b, 1e6 f32"),
    ("BM_Mul", "mul", "a * b, 1e6 f32"),
    ("BM_Exp", "exp", "exp(a), 1e6 f32"),
    ("BM_BroadcastAdd", "broadcast_add", "(1000,1000) + (1000,) f32"),
    ("BM_VariableAdd", "variable_add", "a + b with autograd recording, 1e6 f32"),
]


# ---- the PyTorch side (runs in a subprocess under /usr/bin/python3) -----------------------
def measure(fn, min_time, repetitions):
    """Median seconds per call of fn over `repetitions` runs of at least min_time each."""
    for _ in range(3):
        fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time:
            break
        n = max(2 * n, int(n * min_time / max(dt, 1e-9) * 1.2))
    times = []
    for _ in range(repetitions):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def torch_worker(threads, min_time, repetitions):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)

    # MLP 784-1000-10, ReLU, softmax cross entropy, SGD: the same step as bench/eager_mlp.cpp
    # (DeZero's linear is x @ W + b, hence addmm with W of shape (in, out)).
    x = torch.randn(100, 784)
    t = torch.randint(0, 10, (100,))
    W1 = (torch.randn(784, 1000) * (1 / 784) ** 0.5).requires_grad_()
    b1 = torch.zeros(1000, requires_grad=True)
    W2 = (torch.randn(1000, 10) * (1 / 1000) ** 0.5).requires_grad_()
    b2 = torch.zeros(10, requires_grad=True)
    params = [W1, b1, W2, b2]
    lr = 0.01

    def mlp_train_step():
        h = torch.relu(torch.addmm(b1, x, W1))
        y = torch.addmm(b2, h, W2)
        loss = F.cross_entropy(y, t)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.sub_(lr * p.grad)
        return loss.item()

    a = torch.randn(1_000_000)
    b = torch.randn(1_000_000)
    m = torch.randn(1000, 1000)
    v = torch.randn(1000)
    ag = a.clone().requires_grad_()
    bg = b.clone().requires_grad_()

    work = {
        "mlp_train_step": mlp_train_step,
        "add": lambda: a + b,
        "mul": lambda: a * b,
        "exp": lambda: torch.exp(a),
        "broadcast_add": lambda: m + v,
        "variable_add": lambda: ag + bg,
    }
    result = {"torch_version": torch.__version__, "threads": torch.get_num_threads(), "times": {}}
    for name, fn in work.items():
        result["times"][name] = measure(fn, min_time, repetitions)
    json.dump(result, sys.stdout)


# PyTorch at its best on this machine (peers at their best, or the comparison is void):
# - glibc keeps freed blocks instead of returning them to the kernel: otherwise each step's
#   large tensors are fresh mmaps whose page faults cost ~7 us each;
# - no oversubscription: either one torch thread with OpenBLAS's own threads, or torch's
#   threads with a single-threaded OpenBLAS. Which is faster depends on the workload, so
#   both run and the faster one is reported with its name.
TORCH_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "1000000000"}


def torch_configs(threads):
    """The thread configurations tried: (name, torch threads, OPENBLAS_NUM_THREADS). None
    oversubscribes the cores; one thread on each side is the fastest for small steps, whose
    products are too small to split."""
    configs = [(f"torch 1 thread, OpenBLAS {threads}", 1, threads),
               (f"torch {threads} threads, OpenBLAS 1", threads, 1)]
    if threads > 1:
        configs.append(("torch 1 thread, OpenBLAS 1", 1, 1))
    return configs


def run_torch_worker(script, worker_args, torch_threads, blas_threads):
    """Runs `script --torch-worker WORKER_ARGS... --threads TORCH_THREADS` under
    /usr/bin/python3 with OpenBLAS's pthread build (when installed), OPENBLAS_NUM_THREADS and
    glibc's thresholds (TORCH_MALLOC), and returns its JSON output, or None after a note when
    PyTorch is missing or the run failed. bench/compare_steps.py uses it too."""
    env = dict(os.environ, **TORCH_MALLOC, OPENBLAS_NUM_THREADS=str(blas_threads))
    env.pop("OMP_NUM_THREADS", None)
    if os.path.isdir(OPENBLAS_PTHREAD):
        old = env.get("LD_LIBRARY_PATH")
        env["LD_LIBRARY_PATH"] = OPENBLAS_PTHREAD + (":" + old if old else "")
    else:
        print(f"note: {OPENBLAS_PTHREAD} is missing (apt-get install libopenblas0-pthread);"
              " torch runs with its default BLAS", file=sys.stderr)
    python = TORCH_PYTHON if os.path.exists(TORCH_PYTHON) else sys.executable
    cmd = [python, os.path.abspath(script), "--torch-worker", *worker_args,
           "--threads", str(torch_threads)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        print(f"note: the PyTorch run failed: {last}\n"
              "      (apt-get install python3-torch libopenblas0-pthread)", file=sys.stderr)
        return None
    return json.loads(proc.stdout)


def run_torch(args):
    """Every benchmark in each configuration of torch_configs; per benchmark the faster."""
    best = None
    for name, torch_threads, blas_threads in torch_configs(args.threads):
        r = run_torch_worker(__file__, ["--min-time", str(args.min_time), "--repetitions",
                                        str(args.repetitions)], torch_threads, blas_threads)
        if r is None:
            continue
        if best is None:
            best = dict(r, config={k: name for k in r["times"]})
            continue
        for k, t in r["times"].items():
            if k not in best["times"] or t < best["times"][k]:
                best["times"][k] = t
                best["config"][k] = name
    return best


# ---- the dzc side -------------------------------------------------------------------------
def run_dzc(args):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(args.threads)
    cmd = [args.dzc_bench, "--benchmark_format=json",
           f"--benchmark_min_time={args.min_time}",
           f"--benchmark_repetitions={args.repetitions}",
           "--benchmark_report_aggregates_only=true"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{args.dzc_bench} failed ({proc.returncode}):\n{proc.stderr}")
    data = json.loads(proc.stdout)
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    times = {}
    for bm in data["benchmarks"]:
        if bm.get("aggregate_name", "median") != "median":
            continue
        name = bm.get("run_name", bm["name"]).split("/")[0]
        times[name] = bm["real_time"] * scale[bm["time_unit"]]
    return {"context": data.get("context", {}), "times": times}


def fmt_time(s):
    if s is None:
        return "n/a"
    for unit, f in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= f:
            return f"{s / f:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def main():
    build = os.environ.get("DZ_BUILD_DIR", os.path.join(REPO, "build"))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dzc-bench", default=os.path.join(build, "bench", "dz_bench_eager"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-time", type=float, default=0.5)
    p.add_argument("--repetitions", type=int, default=5)
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--json", metavar="FILE", help="also write the raw results to FILE")
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.torch_worker:
        torch_worker(args.threads, args.min_time, args.repetitions)
        return 0

    if not os.path.exists(args.dzc_bench):
        sys.exit(f"{args.dzc_bench} not found: build it first (bench/run.sh)")
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.1f} before the run: other work shares the CPUs,"
              " so the times below are not fit for docs/performance.md", file=sys.stderr)
    dzc = run_dzc(args)
    torch = run_torch(args)

    rows = []
    for dz_name, torch_name, what in BENCHMARKS:
        d = dzc["times"].get(dz_name)
        t = torch["times"].get(torch_name) if torch else None
        ratio = f"{d / t:.2f}" if d is not None and t else "n/a"
        config = torch["config"].get(torch_name, "") if torch else ""
        rows.append((what, fmt_time(d), fmt_time(t), ratio, config))

    header = ("benchmark", "dzc", "torch", "dzc/torch", "torch's best configuration")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("| --- | ---: | ---: | ---: | --- |")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        line = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                   for i, (c, w) in enumerate(zip(r, widths)))
        print(line(header))
        print("  ".join("-" * w for w in widths))
        for r in rows:
            print(line(r))
    ctx = dzc["context"]
    print(f"\n{args.threads} threads; median of {args.repetitions} runs of >= {args.min_time} s;"
          f" host: {ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz;"
          f" torch {torch['torch_version'] if torch else 'not available'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"dzc": dzc, "torch": torch, "threads": args.threads}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
