#!/usr/bin/python3
"""PyTorch CPU reference for bench/train-throughput.bench.ts.

Times one training step (forward, cross-entropy, backward, Adam update) of the paper's MNIST MLP
(784-300-100-10, ReLU, batch 128) and CIFAR CNN (3x32x32 - 300C3 - MP2 - 300C2 - MP2 - 300C3 -
MP2 - 300FC - 100FC - 10FC, 'same' padding, batch 32) and prints one JSON line with the medians.

    /usr/bin/python3 bench/torch_ref.py [--threads 2] [--reps 20] [--cnn-reps 10]
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


def step_ms(model, x, y, reps):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()  # softmax + NLL, as the tfjs model's softmax + categoricalCrossentropy

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=20)
    ap.add_argument('--cnn-reps', type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = {'torch': torch.__version__, 'threads': torch.get_num_threads()}
    out['mlp_step_ms'] = step_ms(mlp(), torch.rand(128, 784), torch.randint(0, 10, (128,)), args.reps)
    out['cnn_step_ms'] = step_ms(cnn(), torch.rand(32, 3, 32, 32), torch.randint(0, 10, (32,)), args.cnn_reps)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
