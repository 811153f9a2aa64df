"""Edge figures of issue #22, measured side by side in one run (medians of several runs):

  - `mlops package --format bundle` of a ~20 MB ONNX model        (target < 2 s)
  - `mlops bundle verify` of that bundle                          (target < 0.5 s)
      each beside `tar czf` / `sha256sum` of the same bytes, the floor any tool pays
  - static int8 (QDQ, `convert --quantize static`) vs the float model of the same MLP:
      rows/s of one onnxruntime session, alternating rounds   (target >= 1.5x)
  - with --arm64-image IMAGE: the arm64 image's smoke run under emulation (target < 3 min)

Whole-process timings include Python start-up and imports, as a user sees them.

Usage: python benchmarks/bench_edge.py [--runs 5] [--hidden 2048] [--arm64-image TAG]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MLOPS = [sys.executable, "-m", "mlops_cli"]


# Bytecode is cached as an installed package has it (pip compiles on install): without it every
# run recompiles the whole package and measures the compiler.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True, env=ENV)


def timed(argv: list[str], cwd: Path) -> float:
    began = time.perf_counter()
    run(argv, cwd)
    return time.perf_counter() - began


def timed_cpu(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one run: on a loaded machine the CPU figure is the steadier one."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = timed(argv, cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def medians(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def big_onnx(path: Path, hidden: int, features: int = 64) -> Path:
    """An MLP graph with random float32 weights: hidden x hidden weights dominate its size."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    sizes = [features, hidden, hidden, 2]
    nodes, inits, current = [], [], "X"
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        inits.append(
            numpy_helper.from_array((rng.normal(size=(a, b)) / np.sqrt(a)).astype(np.float32), f"W{i}")
        )
        out = f"h{i}" if i < len(sizes) - 2 else "Y"
        nodes.append(helper.make_node("MatMul", [current, f"W{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Relu" if out != "Y" else "Identity", [f"m{i}"], [out]))
        current = out
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, features])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def bench_bundle(work: Path, runs: int, hidden: int) -> None:
    project = work / "bundle"
    project.mkdir()
    run([*MLOPS, "init"], project)
    model = big_onnx(project / "model.onnx", hidden)
    run([*MLOPS, "register", str(model), "--name", "big", "--framework", "onnx"], project)
    size_mb = model.stat().st_size / 1e6
    package = [*MLOPS, "package", "big:1", "--format", "bundle", "-o", "b.tar.gz"]
    build, build_cpu = medians([timed_cpu(package, project) for _ in range(runs)])
    tar, tar_cpu = medians(
        [timed_cpu(["tar", "czf", "t.tar.gz", "model.onnx"], project) for _ in range(runs)]
    )
    verify, verify_cpu = medians(
        [timed_cpu([*MLOPS, "bundle", "verify", "b.tar.gz"], project) for _ in range(runs)]
    )
    floor = ["sh", "-c", "gzip -dc b.tar.gz | sha256sum"]
    sha, sha_cpu = medians([timed_cpu(floor, project) for _ in range(runs)])
    start, start_cpu = medians([timed_cpu([*MLOPS, "--version"], project) for _ in range(runs)])
    print(
        f"bundle of a {size_mb:.1f} MB model: build {build:.2f} s wall / {build_cpu:.2f} s CPU"
        " (target < 2 s);"
        f" tar czf of the model alone {tar:.2f} s / {tar_cpu:.2f} s CPU; ratio {build / tar:.2f}x wall"
    )
    print(
        f"bundle verify: {verify:.2f} s wall / {verify_cpu:.2f} s CPU (target < 0.5 s);"
        f" gzip -dc | sha256sum {sha:.2f} s / {sha_cpu:.2f} s CPU; ratio {verify / sha:.2f}x wall;"
        f" of which the CLI's start-up (`mlops --version`) {start:.2f} s / {start_cpu:.2f} s CPU"
    )


def bench_static_int8(work: Path, runs: int) -> None:
    import pandas as pd
    from sklearn.neural_network import MLPClassifier

    project = work / "int8"
    project.mkdir()
    run([*MLOPS, "init"], project)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 64)).astype(np.float32)
    y = (x[:, :8].sum(axis=1) > 0).astype(int)
    model = MLPClassifier(hidden_layer_sizes=(512, 512, 256), max_iter=20, random_state=0).fit(x, y)
    (project / "mlp.pkl").write_bytes(pickle.dumps(model))
    columns = [f"f{i}" for i in range(64)]
    pd.DataFrame(x[:500], columns=columns).to_csv(project / "cal.csv", index=False)
    pd.DataFrame(x[500:1500], columns=columns).to_csv(project / "holdout.csv", index=False)
    run([*MLOPS, "register", "mlp.pkl", "--name", "mlp"], project)
    run([*MLOPS, "convert", "mlp:1", "--sample", "holdout.csv"], project)
    done = run(
        [*MLOPS, "convert", "mlp:1", "--sample", "holdout.csv", "--quantize", "static",
         "--calibration", "cal.csv", "--json"], project,
    )  # fmt: skip
    report = json.loads(done.stdout)
    for ref in ("mlp:2", "mlp:3"):
        run([*MLOPS, "models", "download", ref, "--output", ref.replace(":", "-")], project)
    import onnxruntime as ort

    feeds = None  # by the graph's own input name (skl2onnx calls it "input" or "X")
    sessions = {}
    for label, folder in (("float", "mlp-2"), ("int8", "mlp-3")):
        path = next((project / folder).rglob("*.onnx"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        sessions[label] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feeds = {sessions[label].get_inputs()[0].name: x[1500:2500]}
        sessions[label].run(None, feeds)
    rates: dict[str, list[float]] = {"float": [], "int8": []}
    for _ in range(runs):  # alternating rounds: load on the machine hits both alike
        for label, session in sessions.items():
            calls, began = 0, time.perf_counter()
            while time.perf_counter() - began < 1.0:
                session.run(None, feeds)
                calls += 1
            rates[label].append(calls * 1000 / (time.perf_counter() - began))
    f, q = statistics.median(rates["float"]), statistics.median(rates["int8"])
    parity = report["parity"]
    print(f"static int8 MLP 64-512-512-256 (1 thread, 1,000-row batches): float {f:,.0f} rows/s,"
          f" int8 {q:,.0f}"
          f" rows/s, ratio {q / f:.2f}x (target >= 1.5x); parity {'passed' if parity['passed'] else 'FAILED'}"
          f" at rtol {parity['rtol']} / atol {parity['atol']}, {report['quantization']['size_before']:,} ->"
          f" {report['quantization']['size_after']:,} bytes")  # fmt: skip


def bench_arm64(image: str) -> None:
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "tests/integration/test_package_arm64.py", "-x"],
        check=True,
        env={**__import__("os").environ, "MLOPS_TEST_ARM64_IMAGE": image},
    )
    print(f"arm64 smoke run under emulation: {time.perf_counter() - began:.0f} s (target < 180 s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=2048, help="2048 gives a ~17.6 MB model")
    parser.add_argument("--arm64-image", default=None)
    parser.add_argument("--parts", default="bundle,int8", help="which figures: bundle, int8 or both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        work = Path(tmp)
        if "bundle" in args.parts:
            bench_bundle(work, args.runs, args.hidden)
        if "int8" in args.parts:
            bench_static_int8(work, args.runs)
    if args.arm64_image:
        bench_arm64(args.arm64_image)


if __name__ == "__main__":
    main()
