"""Peak memory of an evasion run over a large image folder, read whole and a part at a time
(issue 34; benchmark, not CI).

    /tmp/benchvenv/bin/python bench/stream_memory.py     # needs pillow, torch, onnx

Makes (once, under /tmp/aisec-bench-stream) BENCH_IMAGES JPEG files (default 50,000) of
224×224 RGB in 10 class folders — smooth random gradients with noise, about 10 KB each —
and a small ONNX classifier for 3×224×224 inputs exported by torch (a stride-4 convolution,
global average pooling and a linear layer: the model is not what is measured). Then runs
`aisec attack evasion --attack fgsm --images DIR` with `--part-size 1000` on every image,
and without it on BENCH_WHOLE images (default 5,000; 50,000 inputs of 224×224×3 f32 would
be 30 GB, more than the machine has), under /usr/bin/time -v, and prints each run's peak
resident memory, wall time and robust accuracy.
"""

import json
import os
import re
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AISEC = os.environ.get("AISEC_BIN") or os.path.join(ROOT, "target/release/aisec")
WORK = "/tmp/aisec-bench-stream"
N = int(os.environ.get("BENCH_IMAGES", "50000"))
WHOLE = int(os.environ.get("BENCH_WHOLE", "5000"))


def make_images(folder):
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:224, 0:224] / 224.0
    done = sum(len(files) for _, _, files in os.walk(folder)) if os.path.isdir(folder) else 0
    if done >= N:
        return
    for i in range(N):
        cls = i % 10
        path = os.path.join(folder, f"c{cls}", f"{i:06d}.jpg")
        if os.path.exists(path):
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        a, b, c = rng.uniform(-1, 1, 3)
        base = np.stack([a * xx + b * yy, b * xx - c * yy, c * xx + a * yy], axis=-1) * 0.5 + 0.5
        pixels = np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1)
        Image.fromarray((pixels * 255).astype(np.uint8)).save(path, quality=85)


def make_model(path):
    import torch

    if os.path.exists(path):
        return
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 8, stride=4), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10)).eval()
    torch.onnx.export(net, torch.rand(2, 3, 224, 224), path, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False)


def run(args):
    start = time.time()
    out = subprocess.run(["/usr/bin/time", "-v", AISEC, "--format", "json", "attack", "evasion"] + args,
                         capture_output=True, text=True)
    wall = time.time() - start
    if out.returncode not in (0, 1):
        raise SystemExit(f"aisec failed: {out.stderr[-2000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    metrics = json.loads(out.stdout)["metrics"]
    return peak_kb / 1024, wall, metrics


def main():
    folder = os.path.join(WORK, "images")
    model = os.path.join(WORK, "small224.onnx")
    os.makedirs(WORK, exist_ok=True)
    started = time.time()
    make_images(folder)
    make_model(model)
    print(f"{N} images ready in {time.time() - started:.0f} s", flush=True)
    common = ["--model", model, "--images", folder, "--attack", "fgsm", "--eps", "0.01"]
    rows = []
    for label, extra in [(f"{WHOLE} images, read whole", ["--limit", str(WHOLE)]),
                         (f"{WHOLE} images, 1,000 at a time", ["--limit", str(WHOLE), "--part-size", "1000"]),
                         (f"{N} images, 1,000 at a time", ["--part-size", "1000"])]:
        peak, wall, m = run(common + extra)
        rows.append((label, peak, wall, m["robust_accuracy"]))
        print(f"{label:<32} peak RSS {peak:8.0f} MiB  wall {wall:7.1f} s  robust accuracy {m['robust_accuracy']:.4f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
