#!/usr/bin/python3
"""Training side by side: `physnn train` against the PyTorch training
scripts in models/ (run unmodified, from a copy in a temporary folder so
that they cannot overwrite the shipped models), on the heat 1-D and the
Raissi Burgers problems, with the same budget (iterations, points, network,
hard-constraint ansatz). Each trained ONNX file is then judged by the same
evaluator (models/evaluate_models.py, through physnn on the CPU path):
heat against the exact solution, Burgers against the physnn simulator
(itself checked against the Cole-Hopf solution by
tests/crosscheck/burgers_colehopf.py).

Wall seconds AND CPU seconds are recorded: on a shared machine the wall
time depends on what else runs; CPU seconds (user + system of the training
process and its threads) are the fairer figure.

    cd /work/main && meson devenv -C build-train /usr/bin/python3 \\
        ../bench/train_compare.py run heat torch --out ../bench/results/train
    ... run heat physnn | run burgers torch | run burgers physnn
    ... table --out ../bench/results/train      (the markdown table)

Each `run` appends one JSON line to OUT/results.jsonl and keeps the
trained model and the log in OUT.

The Burgers budget (5001 Adam steps, 6 rounds of up to 800 L-BFGS
iterations on 5000-11000 points) is about 20 CPU minutes per tool;
--adam/--rounds/--lbfgs shrink it for BOTH tools alike (the copy of the
PyTorch script gets the same numbers in its ADAM_ITERS, ROUNDS and
LBFGS_ITERS constants; models/ is never modified).
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
MODELS = os.path.join(TOP, "models")
sys.path.insert(0, MODELS)

# What `physnn train` runs for each problem: the budget of the PyTorch
# script (see the constants and loops of models/train_*_pinn.py).
PHYSNN_ARGS = {
    # train_heat_pinn.py: 2-32x3-1 tanh, u = sin(pi x) + t x (1-x) N,
    # Adam 2001 steps lr 2e-3 on 1024 fresh points, then 2 rounds of at most
    # 1000 L-BFGS iterations (history 50, strong Wolfe) on 2048 fixed points.
    "heat": ["--pde", "u_t - 0.1*u_xx", "--domain", "x=0:1,t=0:1",
             "--ansatz", "sin(pi*x) + t*x*(1-x)*N", "--layers", "32,32,32",
             "--adam", "2001", "--lr", "2e-3", "--points", "1024",
             "--lbfgs", "1000", "--lbfgs-rounds", "2",
             "--lbfgs-points-scale", "2", "--lbfgs-history", "50",
             "--seed", "1"],
    # train_burgers_pinn.py: 2-20x8-1 tanh on inputs scaled to [-1,1],
    # u = -sin(pi x) + t (1-x^2) N, Adam 5001 steps lr 1e-3 decaying to 1e-4
    # on 2000 fresh uniform points, then 6 rounds of at most 800 L-BFGS
    # iterations on 5000 points plus 1000 points per round drawn from a
    # uniform pool of 20000 with probability ∝ r²/mean r² + 1.
    "burgers": ["--pde", "u_t + u*u_x - 0.0031830988618379*u_xx",
                "--domain", "x=-1:1,t=0:1", "--scale-inputs",
                "--ansatz", "-sin(pi*x) + t*(1-x^2)*N",
                "--layers", "20,20,20,20,20,20,20,20",
                "--adam", "5001", "--lr", "1e-3", "--lr-final", "1e-4",
                "--points", "2000", "--sampling", "uniform",
                "--refine", "draw",
                "--lbfgs", "800", "--lbfgs-rounds", "6",
                "--lbfgs-points-scale", "2.5", "--lbfgs-added", "1000",
                "--lbfgs-pool", "20000", "--lbfgs-history", "50",
                "--seed", "2"],
}

SCRIPTS = {"heat": "train_heat_pinn.py", "burgers": "train_burgers_pinn.py"}
ONNX_OF = {"heat": "heat1d_pinn.onnx", "burgers": "burgers_pinn.onnx"}


def timed_run(cmd, log, env=None, cwd=None):
    """Runs cmd, output to log; returns (rc, wall s, CPU s of the child)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    with open(log, "w") as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                             cwd=cwd)
    wall = time.time() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return rc, wall, cpu


def evaluate(problem, path):
    import evaluate_models
    if problem == "heat":
        e_sim, e_ex, m_ex = evaluate_models.eval_heat(path, "cpu")
        return {"rel_l2": e_ex, "max_abs": m_ex, "reference": "exact",
                "rel_l2_vs_simulator": e_sim}
    e_sim, m_sim = evaluate_models.eval_burgers(path, "cpu")
    return {"rel_l2": e_sim, "max_abs": m_sim, "reference": "simulator"}


def burgers_budget(args, a):
    """PHYSNN_ARGS["burgers"] with the budget of the command line."""
    out, i = [], 0
    repl = {"--adam": str(a.adam + 1), "--lbfgs": str(a.lbfgs),
            "--lbfgs-rounds": str(a.rounds)}
    while i < len(args):
        out.append(args[i])
        if args[i] in repl:
            out.append(repl[args[i]])
            i += 1
        i += 1
    return out


def with_seed(args, seed):
    """physnn's arguments with --seed replaced (None: unchanged)."""
    if seed is None:
        return args
    i = args.index("--seed")
    return args[:i + 1] + [str(seed)] + args[i + 2:]


def patch_consts(path, consts):
    """Sets `NAME = N` constants of the copied training script."""
    src = open(path).read()
    for name, v in consts:
        src, n = re.subn(rf"^{name} = \d+$", f"{name} = {v}", src, flags=re.M)
        if n != 1:
            sys.exit(f"{path}: no single '{name} = N' line to set")
    open(path, "w").write(src)


def tag(a):
    """File-name suffix of a run with a seed other than the script's."""
    t = "" if a.seed is None else f"-seed{a.seed}"
    return t + (f"-{a.refine}" if getattr(a, "refine", None) else "")


def run_torch(problem, out, a):
    tmp = tempfile.mkdtemp(prefix="physnn-train-compare-")
    try:
        for f in os.listdir(MODELS):
            if f.endswith(".py"):
                shutil.copy(os.path.join(MODELS, f), tmp)
        script = os.path.join(tmp, SCRIPTS[problem])
        if problem == "burgers":
            patch_consts(script, [("ADAM_ITERS", a.adam), ("ROUNDS", a.rounds),
                                  ("LBFGS_ITERS", a.lbfgs)])
        if a.seed is not None:
            patch_consts(script, [("SEED", a.seed)])
        log = os.path.join(out, f"{problem}-torch{tag(a)}.log")
        rc, wall, cpu = timed_run(
            ["/usr/bin/python3", "-u", os.path.join(tmp, SCRIPTS[problem])],
            log, cwd=tmp)
        text = open(log).read()
        m = re.search(r"training took (\d+) s wall, (\d+) s CPU", text)
        res = {"problem": problem, "tool": "pytorch", "rc": rc,
               "process_wall_s": wall, "process_cpu_s": cpu,
               "train_wall_s": float(m.group(1)) if m else None,
               "train_cpu_s": float(m.group(2)) if m else None}
        onnx = os.path.join(tmp, ONNX_OF[problem])
        if os.path.exists(onnx):
            dst = os.path.join(out, f"{problem}-torch{tag(a)}.onnx")
            shutil.copy(onnx, dst)
            res.update(evaluate(problem, dst))
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_physnn(problem, out, physnn, a):
    onnx = os.path.join(out, f"{problem}-physnn{tag(a)}.onnx")
    log = os.path.join(out, f"{problem}-physnn{tag(a)}.log")
    args = with_seed(PHYSNN_ARGS[problem], a.seed)
    if problem == "burgers":
        args = burgers_budget(args, a)
    if a.refine:
        args = args + ["--refine", a.refine]
    cmd = [physnn, "train", *args, "-o", onnx, "--plot",
           os.path.join(out, f"{problem}-physnn{tag(a)}-loss.png")]
    rc, wall, cpu = timed_run(cmd, log)
    text = open(log).read()
    m = re.search(r"time: ([\d.]+) s wall, ([\d.]+) s CPU", text)
    res = {"problem": problem, "tool": "physnn", "rc": rc,
           "command": " ".join(cmd[1:]),
           "process_wall_s": wall, "process_cpu_s": cpu,
           "train_wall_s": float(m.group(1)) if m else None,
           "train_cpu_s": float(m.group(2)) if m else None}
    if rc == 0 and os.path.exists(onnx):
        res.update(evaluate(problem, onnx))
    return res


def table(out):
    rows = [json.loads(l) for l in open(os.path.join(out, "results.jsonl"))]
    print("| problem | tool | rel L2 error (reference) | max abs error | "
          "training wall s | training CPU s | process CPU s |")
    print("|---|---|---|---|---|---|---|")
    fmt = lambda v, f: "n/a" if v is None else f.format(v)
    for r in rows:
        print(f"| {r['problem']} | {r['tool']} | "
              f"{fmt(r.get('rel_l2'), '{:.2e}')} ({r.get('reference', '-')}) "
              f"| {fmt(r.get('max_abs'), '{:.2e}')} | "
              f"{fmt(r.get('train_wall_s'), '{:.0f}')} | "
              f"{fmt(r.get('train_cpu_s'), '{:.0f}')} | "
              f"{fmt(r.get('process_cpu_s'), '{:.0f}')} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run")
    r.add_argument("problem", choices=["heat", "burgers"])
    r.add_argument("tool", choices=["torch", "physnn"])
    r.add_argument("--out", required=True)
    r.add_argument("--physnn", default=shutil.which("physnn") or "physnn")
    r.add_argument("--adam", type=int, default=5000,
                   help="Burgers: Adam steps - 1 (the script's ADAM_ITERS)")
    r.add_argument("--rounds", type=int, default=6,
                   help="Burgers: L-BFGS rounds")
    r.add_argument("--lbfgs", type=int, default=800,
                   help="Burgers: L-BFGS iterations per round at most")
    r.add_argument("--seed", type=int, default=None,
                   help="seed for both tools instead of the script's "
                        "(Burgers 2, heat 1): a second draw of the same "
                        "budget")
    r.add_argument("--refine", choices=["largest", "draw"],
                   help="physnn: how refinement picks points (physnn "
                        "train --refine)")
    t = sub.add_parser("table")
    t.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.what == "table":
        return table(a.out)
    os.makedirs(a.out, exist_ok=True)
    res = (run_torch(a.problem, a.out, a) if a.tool == "torch" else
           run_physnn(a.problem, a.out, a.physnn, a))
    if a.problem == "burgers":
        res["budget"] = {"adam_steps": a.adam + 1, "lbfgs_rounds": a.rounds,
                         "lbfgs_iterations": a.lbfgs}
    res["seed"] = a.seed if a.seed is not None else \
        int(with_seed(PHYSNN_ARGS[a.problem], None)[
            PHYSNN_ARGS[a.problem].index("--seed") + 1])
    if a.tool == "physnn" and a.refine:
        res["refine"] = a.refine
    res["threads"] = {"PHYSNN_THREADS": os.environ.get("PHYSNN_THREADS"),
                      "PHYSNN_TORCH_THREADS":
                          os.environ.get("PHYSNN_TORCH_THREADS")}
    res["load_average_1min_at_end"] = os.getloadavg()[0]
    res["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(os.path.join(a.out, "results.jsonl"), "a") as f:
        f.write(json.dumps(res) + "\n")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
