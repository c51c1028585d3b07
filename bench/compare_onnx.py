#!/usr/bin/env python3
"""bench/compare_onnx.py - ONNX inference of models exported by PyTorch: `dzc run --bench`
vs onnxruntime on the same files, in one run, as times and the ratio dzc/onnxruntime
(below 1: dzc is faster).

Usage:
  bench/compare_onnx.py [--build DIR] [--threads 2] [--iters 200] [--runs 3] [--markdown]
                        [--keep DIR] [--models mlp,cnn,transformer] [--ort-threads 1,2]

The models (float32), exported with torch.onnx.export at opset 13 into a temporary folder
(--keep DIR: into DIR, kept), with a seeded random input each:
  mlp  Linear 784-1000, ReLU, Linear 1000-10; batch 100 (the inference MLP of issue 6)
  cnn  conv 1->8 3x3 pad 1, ReLU, max pool 2, conv 8->16 3x3, ReLU, max pool 2,
       Linear 576->10; batch 64 of 1x28x28 (the CNN of issue 5)
  transformer  nn.TransformerEncoderLayer(d_model 256, 8 heads, feed-forward 1024, GELU,
       batch_first, eval) with a causal attention mask (a 128x128 additive -inf mask,
       exported as a constant); batch 8, sequence 128 (opset 14)

dzc: `<build>/bin/dzc run MODEL --input x.npy --output-dir D --bench ITERS` (a Release
build; `ninja -C <build> dzc-cli`) with OMP_NUM_THREADS=<threads>. After one warm-up run it
prints the median, mean and min of its runs.

onnxruntime: onnxruntime-node (CPU) through `node tools/ort/run.mjs MODEL --input x.npy
--output-dir D --bench ITERS --threads <threads>` (scripts/install-deps.sh installs it;
$DZ_ORT_DIR), one warm-up run, then the median, mean and min of ITERS runs. Session
creation (and so onnxruntime's graph optimisation) is outside the timed runs on both sides,
as are dzc's import, pipeline and JIT compilation.

One process per (model, runtime, run), --runs times; reported is the median over the
processes of each one's min and mean. The ratio is of the mins (the steady state; on a
machine shared with other work the min is the least noisy), the mean ratio next to it.
Both outputs are compared with each other and with PyTorch's (|a - b| <= 1e-4 + 1e-3 |b|);
a mismatch stops the script. The driver needs only the standard library; PyTorch runs as
/usr/bin/python3 (bench/compare_torch.py explains the set-up).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_torch import TORCH_MALLOC, run_torch_worker  # noqa: E402  (the same PyTorch set-up)

RUNNER = os.path.join(REPO, "tools", "ort", "run.mjs")
MODELS = [
    ("mlp", "MLP 784-1000-10, batch 100, f32"),
    ("cnn", "CNN conv8-pool-conv16-pool-linear, batch 64 of 1x28x28, f32"),
    ("transformer", "TransformerEncoderLayer d256 8 heads ff1024 GELU, causal mask, batch 8 x 128, f32"),
]
OPSET = 13
OPSETS = {"transformer": 14}  # scaled_dot_product / GELU export at 14; the others at OPSET


# ---- the PyTorch side: export (runs in a subprocess under /usr/bin/python3) ---------------
def export_worker(out_dir):
    import numpy as np
    import torch
    from torch import nn

    class CausalEncoder(nn.Module):
        def __init__(self, seq):
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(256, 8, dim_feedforward=1024,
                                                    activation="gelu", batch_first=True)
            self.register_buffer("mask", torch.triu(torch.full((seq, seq), float("-inf")), 1))

        def forward(self, x):
            return self.layer(x, src_mask=self.mask)

    torch.manual_seed(0)
    models = {
        "mlp": (nn.Sequential(nn.Linear(784, 1000), nn.ReLU(), nn.Linear(1000, 10)),
                (100, 784)),
        "cnn": (nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(576, 10)),
                (64, 1, 28, 28)),
        "transformer": (CausalEncoder(128), (8, 128, 256)),
    }
    for name, (model, shape) in models.items():
        model.eval()
        x = torch.randn(*shape)
        torch.onnx.export(model, (x,), os.path.join(out_dir, f"{name}.onnx"),
                          opset_version=OPSETS.get(name, OPSET), input_names=["x"],
                          output_names=["y"])
        np.save(os.path.join(out_dir, f"{name}_x.npy"), x.numpy())
        with torch.no_grad():
            np.save(os.path.join(out_dir, f"{name}_torch.npy"), model(x).numpy())
    json.dump({"torch_version": torch.__version__}, sys.stdout)


# ---- .npy (float32, C order) without numpy ------------------------------------------------
def load_npy_f32(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        sys.exit(f"{path}: not a .npy file")
    n = struct.unpack("<H", data[8:10])[0] if data[6] == 1 else struct.unpack("<I", data[8:12])[0]
    start = (10 if data[6] == 1 else 12) + n
    header = data[start - n:start].decode("latin1")
    if "'<f4'" not in header or "'fortran_order': False" not in header:
        sys.exit(f"{path}: expected a float32 C-order array, header {header.strip()}")
    shape = tuple(int(d) for d in re.search(r"'shape': \(([^)]*)\)", header).group(1).split(",")
                  if d.strip())
    count = len(data[start:]) // 4
    return shape, struct.unpack(f"<{count}f", data[start:start + 4 * count])


def mismatch(a_path, b_path):
    """None when the arrays agree (same shape, |a - b| <= 1e-4 + 1e-3 |b|), else why not."""
    (sa, a), (sb, b) = load_npy_f32(a_path), load_npy_f32(b_path)
    if sa != sb:
        return f"shape {sa} vs {sb}"
    worst = max(range(len(a)), key=lambda i: abs(a[i] - b[i]) - 1e-3 * abs(b[i]), default=None)
    if worst is not None and abs(a[worst] - b[worst]) > 1e-4 + 1e-3 * abs(b[worst]):
        return f"element {worst}: {a[worst]} vs {b[worst]}"
    return None


# ---- the driver ----------------------------------------------------------------------------
def run(cmd, env, what):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{what} failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.strip()}")
    return proc.stdout


def run_dzc(dzc, model, x, out, args):
    env = dict(os.environ, **TORCH_MALLOC, OMP_NUM_THREADS=str(args.threads))
    stdout = run([dzc, "run", model, "--input", x, "--output-dir", out, "--bench", str(args.iters)],
                 env, "dzc")
    m = re.search(r"median [0-9.]+ ms, mean ([0-9.]+) ms, min ([0-9.]+) ms", stdout)
    if not m:
        sys.exit(f"dzc printed no timing line: {stdout!r}")
    return {"mean_ms": float(m.group(1)), "min_ms": float(m.group(2))}


def run_ort(node, model, x, out, args):
    """onnxruntime at each of --ort-threads (default: --threads); the run with the least min."""
    best = None
    for threads in args.ort_threads or [args.threads]:
        cmd = [node, RUNNER, model, "--input", x, "--output-dir", out, "--bench", str(args.iters),
               "--threads", str(threads)]
        r = json.loads(run(cmd, dict(os.environ, **TORCH_MALLOC), "onnxruntime").strip().splitlines()[-1])
        if best is None or r["min_ms"] < best["min_ms"]:
            best = r
    return best


def ort_version(node):
    proc = subprocess.run([node, RUNNER, "--check"], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"onnxruntime is unavailable: {proc.stderr.strip()}\n"
                 "(scripts/install-deps.sh installs node and onnxruntime-node; DZ_ORT_DIR)")
    return proc.stdout.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("DZ_BUILD_DIR", os.path.join(REPO, "build")))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--keep", metavar="DIR", help="export into DIR and keep the files")
    ap.add_argument("--ort-threads", type=lambda t: [int(n) for n in t.split(",")],
                    help="onnxruntime's intra-op thread counts to try, e.g. 1,2 (each process "
                         "keeps the one with the least min; default: --threads)")
    ap.add_argument("--models", default=",".join(m for m, _ in MODELS),
                    help="comma-separated subset of " + ", ".join(m for m, _ in MODELS))
    ap.add_argument("--torch-worker")
    args = ap.parse_args()
    if args.torch_worker:
        return export_worker(args.torch_worker)
    if args.threads < 1 or args.iters < 1 or args.runs < 1:
        sys.exit("--threads, --iters and --runs must be at least 1")

    dzc = os.path.join(os.path.abspath(args.build), "bin", "dzc")
    if not os.access(dzc, os.X_OK):
        sys.exit(f"{dzc} not found: build it with `ninja -C {args.build} dzc-cli`")
    node = shutil.which("node")
    if not node:
        sys.exit("node not found (scripts/install-deps.sh installs it)")
    ort = ort_version(node)

    work = os.path.abspath(args.keep) if args.keep else tempfile.mkdtemp(prefix="dz-compare-onnx-")
    os.makedirs(work, exist_ok=True)
    try:
        exported = run_torch_worker(__file__, [work], 1, 1)  # an export: not timed
        if exported is None:
            sys.exit("the export with torch.onnx.export failed (see the note above)")
        rows = []
        wanted = args.models.split(",")
        unknown = [m for m in wanted if m not in dict(MODELS)]
        if unknown:
            sys.exit(f"--models: unknown {', '.join(unknown)}; valid: "
                     + ", ".join(m for m, _ in MODELS))
        for name, label in MODELS:
            if name not in wanted:
                continue
            model, x = os.path.join(work, f"{name}.onnx"), os.path.join(work, f"{name}_x.npy")
            dz_runs, ort_runs = [], []
            for r in range(args.runs):  # alternate, so that a noisy moment hits both sides
                dz_out, ort_out = (os.path.join(work, f"{name}_{side}_{r}") for side in ("dzc", "ort"))
                dz_runs.append(run_dzc(dzc, model, x, dz_out, args))
                ort_runs.append(run_ort(node, model, x, ort_out, args))
                ref = os.path.join(work, f"{name}_torch.npy")
                for a, b, what in ((dz_out, ort_out, "dzc vs onnxruntime"),
                                   (ort_out, None, "onnxruntime vs PyTorch")):
                    why = mismatch(os.path.join(a, "output_0.npy"),
                                   os.path.join(b, "output_0.npy") if b else ref)
                    if why:
                        sys.exit(f"{name}: the outputs differ, {what}: {why}")
            med = lambda runs, key: statistics.median(r[key] for r in runs)
            row = {"model": name, "label": label,
                   "dzc_min_ms": med(dz_runs, "min_ms"), "dzc_mean_ms": med(dz_runs, "mean_ms"),
                   "ort_min_ms": med(ort_runs, "min_ms"), "ort_mean_ms": med(ort_runs, "mean_ms"),
                   "ort_median_ms": med(ort_runs, "median_ms"),
                   "dzc_min_spread_ms": [min(r["min_ms"] for r in dz_runs), max(r["min_ms"] for r in dz_runs)],
                   "ort_min_spread_ms": [min(r["min_ms"] for r in ort_runs), max(r["min_ms"] for r in ort_runs)]}
            row["ratio_min"] = row["dzc_min_ms"] / row["ort_min_ms"]
            row["ratio_mean"] = row["dzc_mean_ms"] / row["ort_mean_ms"]
            rows.append(row)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    if not args.markdown:
        for row in rows:
            print(json.dumps(row))
    else:
        print("| model | dzc min (mean) | onnxruntime min (mean, median) | dzc/ORT min (mean) |")
        print("| --- | ---: | ---: | ---: |")
        for r in rows:
            print(f"| {r['label']} | {r['dzc_min_ms']:.3f} ({r['dzc_mean_ms']:.3f}) ms | "
                  f"{r['ort_min_ms']:.3f} ({r['ort_mean_ms']:.3f}, {r['ort_median_ms']:.3f}) ms | "
                  f"{r['ratio_min']:.2f} ({r['ratio_mean']:.2f}) |")
    spreads = "; ".join(f"{r['model']} min over the runs: dzc {r['dzc_min_spread_ms'][0]:.3f}-"
                        f"{r['dzc_min_spread_ms'][1]:.3f} ms, ORT {r['ort_min_spread_ms'][0]:.3f}-"
                        f"{r['ort_min_spread_ms'][1]:.3f} ms" for r in rows)
    print(f"\n{ort}, torch {exported['torch_version']} export at opset {OPSET}; "
          f"{args.threads} threads (onnxruntime {args.ort_threads or args.threads}), {args.iters} runs per process, median of {args.runs} processes; "
          f"{spreads}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
