"""`make bench`: how fast this machine runs Kingdra, written to results/bench.json.

In one run: the float32 matmul peak of the machine; the ensemble's training throughput on the
MNIST shape (members=1, and members=10 both sequential and vectorized, and the step with
pseudo-labels), also as achieved GFLOP/s and as a fraction of that peak; the members=1 step on
every installed Keras backend (one subprocess each: the backend is fixed per process);
`pseudo_labels.mini_clusters` time and memory; prediction throughput and the memory of predicting
many points; and from these the projected wall time of the paper's MNIST protocol.

Networks are built, compiled, trained and predicted by KingdraCluster's own methods, so the bench
measures the library's code path. Times are the best of --repeats, after a warm-up call that
compiles (compile time is excluded). The data are random: the speed of dense layers does not
depend on the values.
"""
import argparse
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import jax
import keras
import numpy as np

from kingdra.cluster import KingdraCluster
from kingdra.ensemble import PREDICT_BATCH, EpochBatches, LadderEnsemble, fit_epoch
from kingdra.datasets.base import atomic_file
from kingdra.pseudo_labels import mini_clusters
from .. import environment
from ..config import paper_settings

MNIST = 70_000, 784  # samples and features of the data set whose shape is benchmarked
DEFAULTS = KingdraCluster(**paper_settings("mnist"))  # the released MNIST settings: K, members, batch, protocol
FULL = dict(train_n=6400, predict_n=5 * PREDICT_BATCH, predict_memory_n=700_000, mini_n=[10_000, 70_000, 700_000],
            repeats=3, members=DEFAULTS.members, hidden=list(DEFAULTS.layer_sizes), matmul=2048,
            fit_memory_n=MNIST[0], fit_memory_steps=100)
QUICK = dict(train_n=2 * DEFAULTS.batch_size, predict_n=256, predict_memory_n=256, mini_n=[1000, 4000],
             repeats=1, members=2, hidden=[16, 16], matmul=256, fit_memory_n=1000, fit_memory_steps=2)


def flop_per_member_sample(widths, pseudo_labels=False):
    """Matmul FLOPs of one training sample of one member, 2 per multiply-add (the elementwise work
    is O(width), negligible beside the O(width^2) matmuls). With W = sum(w_in * w_out) and d * h1
    the first layer's size: the forward pass runs the clean encoder, the corrupted encoder and the
    decoder (same shapes, top to bottom), W multiply-adds each; the backward pass needs a kernel
    gradient of every matmul (W each) and an input gradient of every matmul except the encoders'
    first layers, whose input is data. With pseudo-labels a third encoder pass (corrupted, on
    x_sup) joins. Total: 2 * (3 * passes * W - data-fed first layers * d * h1), close to
    replicate/budget.py's 18 FLOP per weight for the unsupervised step."""
    weights = sum(a * b for a, b in zip(widths, widths[1:]))
    passes, data_fed = (4, 3) if pseudo_labels else (3, 2)
    return 2 * (3 * passes * weights - data_fed * widths[0] * widths[1])


# ----------------------------------------------------------------- measuring
def _status_bytes(field):
    return int(re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024


def _run(fn, repeats):
    """(best seconds, largest rise of the process's peak resident memory in bytes) over `repeats`
    calls. Resident memory sees every buffer, XLA's included; Linux lets the peak be reset before
    each call (/proc/self/clear_refs), elsewhere the rise is None."""
    best, rise = float("inf"), None
    for _ in range(repeats):
        try:
            Path("/proc/self/clear_refs").write_text("5")
            before = _status_bytes("VmRSS")
        except OSError:
            before = None
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
        if before is not None:
            rise = max(rise or 0, _status_bytes("VmHWM") - before)
    return best, rise


def _numpy_peak(fn):
    """(fn's result, peak bytes allocated through Python's allocators, numpy arrays included)."""
    tracemalloc.start()
    try:
        return fn(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def jax_matmul_gflops(a, b, repeats):
    """GFLOP/s of jax.numpy's a @ b (XLA), compiled first, then best of repeats; each timing
    repeats the product for up to ~20 GFLOP (at most 200 calls), so small shapes are timeable."""
    (m, k), n = a.shape, b.shape[1]
    product = jax.jit(jax.numpy.matmul)
    product(a, b).block_until_ready()
    calls = min(200, max(1, int(2e10 // (2 * m * k * n))))
    seconds = _run(lambda: [product(a, b) for _ in range(calls)][-1].block_until_ready(), max(repeats, 5))[0]
    return 2 * m * k * n * calls / seconds / 1e9


def matmul_peak(size, repeats):
    """Float32 GFLOP/s of a size x size matmul, numpy (BLAS) and jax.numpy (XLA), best of repeats."""
    rng = np.random.default_rng(0)
    a, b = rng.random((2, size, size), dtype=np.float32)
    result = {"size": size, "numpy_gflops": 2 * size**3 / _run(lambda: a @ b, max(repeats, 5))[0] / 1e9,
              "jax_gflops": jax_matmul_gflops(jax.numpy.asarray(a), jax.numpy.asarray(b), repeats)}
    result["peak_gflops"] = max(result["numpy_gflops"], result["jax_gflops"])
    return result


def mixed_precision_matmuls(size, hidden, batch, repeats):
    """GFLOP/s of jax.numpy matmuls in float32 and bfloat16: the size x size peak and the
    training step's typical product (batch x hidden times hidden x hidden). bfloat16 compute is
    worth trying for training only where these say it is faster."""
    out = []
    for m, k, n in ((size, size, size), (batch, hidden, hidden)):
        row = {"shape": [m, k, n]}
        for dtype in ("float32", "bfloat16"):
            a, b = jax.numpy.ones((m, k), dtype), jax.numpy.ones((k, n), dtype)
            row[f"{dtype}_gflops"] = jax_matmul_gflops(a, b, repeats)
        out.append(row)
    return out


def ensemble(members, way, hidden, networks=None):
    """The `LadderEnsemble` a KingdraCluster with the released MNIST settings trains, its networks
    built and compiled as a fit builds them (or given), ready to train and predict without a fit."""
    settings = KingdraCluster(members=members, ensemble=way, layer_sizes=tuple(hidden), verbose=0)
    return LadderEnsemble(settings, MNIST[1], networks)


def epoch_batches(net, X, rows, rng, pseudo_labels=False):
    """`EpochBatches` as LadderEnsemble.train_round builds them: per member, a permutation of
    `rows` of X and, with pseudo-labels, as many pseudo-labelled rows with labels."""
    def columns():
        return np.stack([rng.permutation(len(X))[:rows] for _ in range(net.members)], axis=1)

    supervised = (columns(), rng.integers(0, net.n_clusters, (rows, net.members))) if pseudo_labels else None
    return EpochBatches(X, columns(), DEFAULTS.batch_size, supervised)


def train_rate(ladders, n, repeats, pseudo_labels=False):
    """(member-samples/s, peak memory rise) of one epoch of n samples per member, every network
    fitted by `fit_epoch` as LadderEnsemble.train_round fits it, one network after another."""
    rng = np.random.default_rng(0)
    X = rng.random((n, MNIST[1]), dtype=np.float32)
    for net in ladders.networks:  # compiles this step function
        fit_epoch(net, epoch_batches(net, X, 2 * ladders.settings.batch_size, rng, pseudo_labels))
    epochs = [epoch_batches(net, X, n, rng, pseudo_labels) for net in ladders.networks]
    seconds, rise = _run(lambda: [fit_epoch(net, e) for net, e in zip(ladders.networks, epochs)], repeats)
    return ladders.settings.members * n / seconds, rise


def fit_memory(members, n, steps, hidden):
    """Peak resident memory of this process (run it fresh) through the memory-heavy parts of a
    `members`-member fit on n x 784 data, all members in one vectorized network (the largest
    batch arrays): X held as the estimator holds it, `steps` training steps with pseudo-labels
    gathered from all of it, then probabilities for all n points. Memory is flat after the first
    steps, which allocate the buffers every later step reuses."""
    rng = np.random.default_rng(0)
    X = rng.random((n, MNIST[1]), dtype=np.float32)
    ladders = ensemble(members, "vectorized", hidden)
    [net] = ladders.networks
    started = time.perf_counter()
    fit_epoch(net, epoch_batches(net, X, steps * ladders.settings.batch_size, rng, pseudo_labels=True))
    ladders.probabilities(X)
    return {"members": members, "n": n, "features": MNIST[1], "train_steps": steps,
            "seconds": time.perf_counter() - started, "peak_rss_bytes": _status_bytes("VmHWM")}


def _compile_predict(ladders, X):
    """Predicts once on each batch shape that predicting X uses, so that no compile is measured."""
    for size in {min(len(X), PREDICT_BATCH), len(X) % PREDICT_BATCH} - {0}:
        ladders.probabilities(X[:size])


def predict_rate(ladders, n, repeats):
    """(member-samples/s, peak memory rise) of `LadderEnsemble.probabilities` over n points."""
    X = np.random.default_rng(0).random((n, MNIST[1]), dtype=np.float32)
    _compile_predict(ladders, X)
    seconds, rise = _run(lambda: ladders.probabilities(X), repeats)
    return ladders.settings.members * n / seconds, rise


def predict_memory(ladders, n):
    """Memory of `LadderEnsemble.probabilities` over n points. If it streams (keras predicts batch by
    batch), the rise stays near the output's size and far below the input's."""
    X = np.random.default_rng(0).random((n, MNIST[1]), dtype=np.float32)
    _compile_predict(ladders, X)
    seconds, rise = _run(lambda: ladders.probabilities(X), 1)
    return {"n": n, "members": ladders.settings.members, "seconds": seconds, "input_bytes": X.nbytes,
            "output_bytes": ladders.settings.members * n * ladders.settings.n_clusters * 4, "peak_rss_rise_bytes": rise}


def synthetic_ensemble(n, members, k, rng, reassigned=0.1):
    """Assignments as a trained ensemble gives them: each member recovers the true classes under
    its own cluster ids (a random permutation) but puts a fraction of the points in a random
    cluster; top probabilities around 0.95."""
    truth = rng.integers(0, k, n)
    assignments = np.stack([rng.permutation(k)[truth] for _ in range(members)])
    moved = rng.random(assignments.shape) < reassigned
    assignments[moved] = rng.integers(0, k, moved.sum())
    return assignments, np.clip(rng.normal(0.95, 0.03, assignments.shape), 1 / k, 1.0).astype(np.float32)


def mini_clusters_cost(n, repeats):
    d = DEFAULTS
    assignments, top_prob = synthetic_ensemble(n, d.members, d.n_clusters, np.random.default_rng(0))

    def call():
        return mini_clusters(assignments, top_prob, d.n_clusters, d.t_low, d.t_high, d.thresh)

    seconds, rise = _run(call, repeats)
    clusters, numpy_peak = _numpy_peak(call)  # exact for numpy-only code, where RSS misses reused memory
    return {"n": n, "seconds": seconds, "peak_numpy_bytes": numpy_peak, "peak_rss_rise_bytes": rise,
            "eligible_points": int((top_prob > d.thresh).all(axis=0).sum()),
            "mini_cluster_sizes": [len(c) for c in clusters]}


# ----------------------------------------------------------------- the bench
def step_args(s):
    """The flags that size the members=1 step, for a backend's subprocess."""
    return ["--train-n", str(s.train_n), "--repeats", str(s.repeats), "--hidden", *map(str, s.hidden)]


def backend_step(rate):
    """The members=1 unsupervised step's rate on this process's backend, with the backend's version."""
    backend = keras.backend.backend()
    return {"backend": backend, "version": importlib.import_module(backend).__version__, "member_samples_per_s": rate}


def in_subprocess(args, **env):
    """The JSON that `python -m replicate.benchmarks.speed ARGS` prints last, run in a fresh process (a
    backend is fixed per process; peak memory is per process)."""
    done = subprocess.run([sys.executable, "-m", "replicate.benchmarks.speed", *args], env=dict(os.environ, **env),
                          cwd=environment.REPO, capture_output=True, text=True)
    if done.returncode != 0:  # recorded, not raised: the rest of a long bench is still worth keeping
        return {"error": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def other_backend_step(name, s):
    return {"backend": name, **in_subprocess(["--only-step", *step_args(s)], KERAS_BACKEND=name,
                                             TF_CPP_MIN_LOG_LEVEL="2")}


def fit_memory_args(s):
    return ["--only-fit-memory", "--members", str(s.members), "--fit-memory-n", str(s.fit_memory_n),
            "--fit-memory-steps", str(s.fit_memory_steps), "--hidden", *map(str, s.hidden)]


def bench(s):
    started = time.perf_counter()
    d = DEFAULTS
    widths = [MNIST[1], *s.hidden, d.n_clusters]
    flop = {"unsupervised": flop_per_member_sample(widths), "pseudo_labels": flop_per_member_sample(widths, True)}
    result = {"timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": s.quick,
              "load_average_at_start": os.getloadavg(), "environment": environment.describe()}
    result["settings"] = {"features": MNIST[1], "hidden": s.hidden, "n_clusters": d.n_clusters,
                          "batch_size": d.batch_size, "loss": d.loss, "train_n_per_member": s.train_n,
                          "repeats": s.repeats, "predict_batch": PREDICT_BATCH}
    result["flop_per_member_sample"] = flop
    peak = matmul_peak(s.matmul, s.repeats)
    result["matmul"] = peak
    result["mixed_precision"] = mixed_precision_matmuls(s.matmul, s.hidden[-1], d.batch_size, s.repeats)

    def record(name, members, way, rate, rise, pseudo=False):
        gflops = rate * flop["pseudo_labels" if pseudo else "unsupervised"] / 1e9
        return {"name": name, "members": members, "ensemble": way, "pseudo_labels": pseudo,
                "member_samples_per_s": rate, "ms_per_member_step": 1000 * d.batch_size / rate,
                "gflops": gflops, "fraction_of_matmul_peak": gflops / peak["peak_gflops"],
                "seconds_per_mnist_member_epoch": MNIST[0] / rate, "peak_rss_rise_bytes": rise}

    sequential = ensemble(s.members, "sequential", s.hidden)
    training = {"sequential": record(f"members={s.members} sequential", s.members, "sequential",
                                     *train_rate(sequential, s.train_n, s.repeats))}
    one = ensemble(1, "sequential", s.hidden, sequential.networks[:1])  # saves building and compiling one more
    training["single"] = record("members=1", 1, "single", *train_rate(one, s.train_n, s.repeats))
    training["pseudo_labels"] = record("members=1 with pseudo-labels", 1, "single",
                                       *train_rate(one, s.train_n, s.repeats, pseudo_labels=True), pseudo=True)
    vectorized = ensemble(s.members, "vectorized", s.hidden)
    training["vectorized"] = record(f"members={s.members} vectorized", s.members, "vectorized",
                                    *train_rate(vectorized, s.train_n, s.repeats))
    result["training"] = training

    result["backends"] = {}
    for name in s.backends:
        step = (backend_step(training["single"]["member_samples_per_s"]) if name == keras.backend.backend()
                else other_backend_step(name, s))
        if "member_samples_per_s" in step:
            step = {**step, **record(f"members=1 on {name}", 1, "single", step["member_samples_per_s"], None)}
        result["backends"][name] = step

    result["fit_memory"] = in_subprocess(fit_memory_args(s))
    result["mini_clusters"] = {"members": d.members, "n_clusters": d.n_clusters, "t_low": d.t_low,
                               "t_high": d.t_high, "thresh": d.thresh,
                               "runs": [mini_clusters_cost(n, s.repeats) for n in s.mini_n]}

    rates = {}
    for way, ladders in (("single", one), ("vectorized", vectorized)):
        rate, rise = predict_rate(ladders, s.predict_n, s.repeats)
        rates[way] = {"members": ladders.settings.members, "n": s.predict_n, "member_samples_per_s": rate,
                      "peak_rss_rise_bytes": rise}
    # One member: a copy of the input would show at any ensemble size, and ten take ten times as long.
    result["prediction"] = {"throughput": rates, "memory": predict_memory(one, s.predict_memory_n)}
    result["projection"] = projection(result)
    result["load_average_at_end"] = os.getloadavg()
    result["seconds"] = time.perf_counter() - started
    return result


def projection(result):
    """Wall time of the released MNIST protocol (paper_settings("mnist"): 10 members, round 0 of
    5 epochs, 50 rounds of 5 epochs with pseudo-labels) at the measured rates, for each way of
    training the ensemble. The pseudo-label rounds run at the members=1 slowdown of the
    pseudo-label step; every round ends with a prediction over all points, and every later round
    starts with mini-clusters (time scaled linearly from the measured size nearest 70000)."""
    d, n = DEFAULTS, MNIST[0]
    training, predicting = result["training"], result["prediction"]["throughput"]
    slowdown = training["pseudo_labels"]["member_samples_per_s"] / training["single"]["member_samples_per_s"]
    nearest = min(result["mini_clusters"]["runs"], key=lambda r: abs(r["n"] - n))
    mini_seconds = d.pseudo_label_rounds * nearest["seconds"] * n / nearest["n"]
    out = {"mnist_samples": n, "member_epochs": d.members * (d.epochs_unsupervised + d.pseudo_label_rounds * d.epochs)}
    for way, predict_way in (("sequential", "single"), ("vectorized", "vectorized")):
        rate = training[way]["member_samples_per_s"]
        train = d.members * n * (d.epochs_unsupervised / rate + d.pseudo_label_rounds * d.epochs / (rate * slowdown))
        predict = (d.pseudo_label_rounds + 1) * d.members * n / predicting[predict_way]["member_samples_per_s"]
        out[way] = {"train_hours": train / 3600, "predict_hours": predict / 3600, "mini_clusters_hours":
                    mini_seconds / 3600, "total_hours": (train + predict + mini_seconds) / 3600}
    return out


# ----------------------------------------------------------------- report
def _mb(n):
    return "n/a" if n is None else f"{n / 2**20:,.1f} MB"


def render(r):
    hw, p = r["environment"]["hardware"], r["matmul"]
    flop = r["flop_per_member_sample"]
    lines = [f"kingdra bench{' (QUICK: tiny sizes, not a measurement)' if r['quick'] else ''}: "
             f"{environment.hardware_label(hw)}; keras {r['environment']['keras_backend']} backend; "
             f"load average {r['load_average_at_start'][0]:.1f} at start, {r['load_average_at_end'][0]:.1f} at end",
             f"matmul {p['size']}x{p['size']} float32: " + ", ".join(
                 f"{k.removesuffix('_gflops')} {v:.1f} GFLOP/s" for k, v in p.items() if k.endswith("_gflops")),
             "mixed precision (jax matmuls): " + "; ".join(
                 f"{'x'.join(map(str, m['shape']))} float32 {m['float32_gflops']:.1f}, bfloat16 {m['bfloat16_gflops']:.1f} "
                 f"GFLOP/s" for m in r["mixed_precision"]),
             f"training, layers {'-'.join(map(str, [r['settings']['features'], *r['settings']['hidden']]))}-"
             f"{r['settings']['n_clusters']}, batch {r['settings']['batch_size']}, "
             f"{flop['unsupervised'] / 1e6:.1f} MFLOP per member-sample ({flop['pseudo_labels'] / 1e6:.1f} with "
             f"pseudo-labels):"]
    rows = [*(r["training"][k] for k in ("single", "pseudo_labels", "sequential", "vectorized")),
            *(b for b in r["backends"].values() if "gflops" in b)]
    for t in rows:
        lines.append(f"  {t['name']:<30} {t['member_samples_per_s']:9,.0f} member-samples/s "
                     f"{t['ms_per_member_step']:7.1f} ms/member-step {t['gflops']:7.1f} GFLOP/s "
                     f"{t['fraction_of_matmul_peak']:5.0%} of peak {t['seconds_per_mnist_member_epoch']:7.1f} s/MNIST "
                     f"member-epoch")
    lines += [f"  members=1 on {b['backend']}: failed: {b['error'].strip().splitlines()[-1]}"
              for b in r["backends"].values() if "error" in b]
    fm = r["fit_memory"]
    lines.append(f"fit memory: failed: {fm['error'].strip().splitlines()[-1]}" if "error" in fm else
                 f"fit memory, members={fm['members']} vectorized, {fm['n']:,} x {fm['features']}, {fm['train_steps']} "
                 f"steps with pseudo-labels + prediction of all rows: peak RSS {_mb(fm['peak_rss_bytes'])} "
                 f"({fm['seconds']:.0f} s)")
    m = r["mini_clusters"]
    lines.append(f"mini_clusters, {m['members']} members, K={m['n_clusters']}, t_low {m['t_low']}, t_high {m['t_high']}, "
                 f"thresh {m['thresh']}:")
    for run in m["runs"]:
        lines.append(f"  n={run['n']:<9,} {run['seconds']:8.3f} s  numpy peak {_mb(run['peak_numpy_bytes'])}, "
                     f"RSS rise {_mb(run['peak_rss_rise_bytes'])}; {run['eligible_points']:,} eligible, "
                     f"{sum(run['mini_cluster_sizes']):,} pseudo-labels in {len(run['mini_cluster_sizes'])} mini-clusters")
    lines.append(f"prediction (LadderEnsemble.probabilities, batch {r['settings']['predict_batch']}):")
    for way, t in r["prediction"]["throughput"].items():
        lines.append(f"  members={t['members']:<3} {way:<10} {t['member_samples_per_s']:9,.0f} member-samples/s, "
                     f"RSS rise {_mb(t['peak_rss_rise_bytes'])} over {t['n']:,} points")
    mem = r["prediction"]["memory"]
    lines.append(f"  {mem['n']:,} points, members={mem['members']}: {mem['seconds']:.1f} s, RSS rise "
                 f"{_mb(mem['peak_rss_rise_bytes'])}; output {_mb(mem['output_bytes'])}, input {_mb(mem['input_bytes'])}")
    proj = r["projection"]
    lines.append(f"projected MNIST paper protocol ({proj['member_epochs']} member-epochs of {proj['mnist_samples']:,}):")
    for way in ("sequential", "vectorized"):
        w = proj[way]
        lines.append(f"  {way:<10} {w['total_hours']:7.1f} h  (train {w['train_hours']:.1f} h, predict "
                     f"{w['predict_hours']:.2f} h, mini-clusters {w['mini_clusters_hours']:.3f} h)")
    lines.append(f"bench took {r['seconds']:.0f} s")
    return "\n".join(lines)


def write_json(result, path):
    with atomic_file(Path(path)) as tmp:  # a reader never sees half a file
        tmp.write((json.dumps(result, indent=1) + "\n").encode())


def parse(argv=None):
    installed = ["jax", "tensorflow"] + (["torch"] if importlib.util.find_spec("torch") else [])
    parser = argparse.ArgumentParser(prog="python -m replicate.benchmarks.speed", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (tests, smoke runs): the numbers mean nothing")
    parser.add_argument("--out", default=str(environment.RESULTS_DIR / "bench.json"),
                        help="the JSON file to write (default: %(default)s)")
    parser.add_argument("--train-n", type=int, help=f"training samples per member, whole batches (full: {FULL['train_n']})")
    parser.add_argument("--predict-n", type=int, help=f"points for prediction throughput (full: {FULL['predict_n']})")
    parser.add_argument("--predict-memory-n", type=int,
                        help=f"points predicted for the memory check (full: {FULL['predict_memory_n']})")
    parser.add_argument("--mini-n", type=int, nargs="+", help=f"mini_clusters sizes (full: {FULL['mini_n']})")
    parser.add_argument("--members", type=int, help=f"ensemble size of the members>1 runs (full: {FULL['members']})")
    parser.add_argument("--hidden", type=int, nargs=2, help=f"the two hidden widths (full: {FULL['hidden']})")
    parser.add_argument("--matmul", type=int, help=f"matmul size for the peak (full: {FULL['matmul']})")
    parser.add_argument("--repeats", type=int, help=f"timed repetitions, best kept (full: {FULL['repeats']})")
    parser.add_argument("--backends", nargs="+", default=installed, help="Keras backends for the members=1 step")
    parser.add_argument("--fit-memory-n", type=int,
                        help=f"rows of the fit-memory check (full: {FULL['fit_memory_n']})")
    parser.add_argument("--fit-memory-steps", type=int,
                        help=f"training steps of the fit-memory check (full: {FULL['fit_memory_steps']})")
    parser.add_argument("--only-fit-memory", action="store_true",
                        help="only the fit-memory check, as JSON on stdout (run in a fresh process)")
    parser.add_argument("--only-step", action="store_true",
                        help="only the members=1 step on this process's backend, as JSON on stdout (used per backend)")
    s = parser.parse_args(argv)
    for key, value in (QUICK if s.quick else FULL).items():
        if getattr(s, key) is None:
            setattr(s, key, value)
    batch = DEFAULTS.batch_size
    s.train_n = max(batch, s.train_n // batch * batch)  # whole batches, as KingdraCluster trains
    return s


def main(argv=None):
    s = parse(argv)
    if s.only_fit_memory:
        print(json.dumps(fit_memory(s.members, s.fit_memory_n, s.fit_memory_steps, s.hidden)))
        return
    if s.only_step:
        rate, _ = train_rate(ensemble(1, "sequential", s.hidden), s.train_n, s.repeats)
        print(json.dumps(backend_step(rate)))
        return
    result = bench(s)
    write_json(result, s.out)
    print(render(result))
    print(f"written to {s.out}")


if __name__ == "__main__":
    main()
