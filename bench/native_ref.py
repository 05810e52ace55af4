#!/usr/bin/python3
"""PyTorch CPU reference for bench/native.bench.ts (run it with the heap setting below).

Times, on the paper's models: the MNIST MLP (784-300-100-10) train step at batch 128, the CIFAR CNN
(3x32x32 - 300C3 - MP2 - 300C2 - MP2 - 300C3 - MP2 - 300FC - 100FC - 10FC, 'same' padding) train
step at batch 32 (forward, cross-entropy, backward, Adam update), and the CNN's input gradient of
the cross-entropy at batch 100 (what one attack iteration costs). Conv weights and activations are
channels-last (PyTorch's fast path with oneDNN here). Prints one JSON line with the medians and
the BLAS library PyTorch's dense layers ran on.

Debian's python3-torch does its Linear layers through the system's libblas.so.3. With only the
reference BLAS installed (the default), the MLP step takes 35-50 ms here instead of ~3 ms: install
OpenBLAS first (`bench/setup-reference.sh` installs it with PyTorch and scikit-learn), and check the "blas" field.

    GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647 \
      /usr/bin/python3 bench/native_ref.py [--threads 2] [--reps 20] [--cnn-reps 10]
"""
import argparse
import json
import statistics
import time

import torch
from torch import nn


def mlp():
    return nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))


def cnn():
    return nn.Sequential(
        nn.Conv2d(3, 300, 3, padding='same'), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(300, 300, 2, padding='same'), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(300, 300, 3, padding='same'), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(300 * 4 * 4, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10),
    )


def median_ms(fn, reps):
    for _ in range(2):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def train_step(model, x, y):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    return step


def input_grad(model, x, y):
    loss_fn = nn.CrossEntropyLoss(reduction='sum')
    for p in model.parameters():
        p.requires_grad_(False)

    def step():
        xx = x.clone().requires_grad_(True)
        loss = loss_fn(model(xx), y)
        (g,) = torch.autograd.grad(loss, xx)
        return g

    return step


def blas_in_use():
    """The BLAS shared object mapped into this process (after a Linear layer ran)."""
    try:
        with open('/proc/self/maps') as f:
            libs = {line.split()[-1] for line in f if 'blas' in line.lower() and '/' in line}
    except OSError:
        return 'unknown'
    names = sorted({lib.split('/')[-2] + '/' + lib.split('/')[-1] for lib in libs})
    if any('openblas' in n for n in names):
        return 'openblas'
    if any('mkl' in n for n in names):
        return 'mkl'
    return 'reference BLAS (slow: install libopenblas0-pthread)' if names else 'none found'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=20)
    ap.add_argument('--cnn-reps', type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cl = torch.channels_last
    out = {'torch': torch.__version__, 'threads': torch.get_num_threads()}
    out['mlp_step_ms'] = median_ms(train_step(mlp(), torch.rand(128, 784), torch.randint(0, 10, (128,))), args.reps)
    out['blas'] = blas_in_use()
    m = cnn().to(memory_format=cl)
    out['cnn_step_ms'] = median_ms(
        train_step(m, torch.rand(32, 3, 32, 32).to(memory_format=cl), torch.randint(0, 10, (32,))), args.cnn_reps)
    m = cnn().to(memory_format=cl).eval()
    out['cnn_input_grad_ms'] = median_ms(
        input_grad(m, torch.rand(100, 3, 32, 32).to(memory_format=cl), torch.randint(0, 10, (100,))), args.cnn_reps)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
