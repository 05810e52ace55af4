#!/usr/bin/python3
"""scikit-learn reference timings for the input defender's benchmarks (bench/omp.bench.ts,
bench/dictionary.bench.ts). Called by those scripts in the same run, on the same data, written as
raw little-endian float32 files.

  sklearn_ref.py omp --dict D.f32 --atoms K --features d --patches X.f32 --k 5 [--repeat 3]
      times orthogonal_mp_gram (Gram precomputed) on every patch; writes the codes' residual
      norms next to the patches (X.f32.sk-res) so the caller can check both solved the same problem.
  sklearn_ref.py dl --patches X.f32 --features d --atoms K --alpha 0.1 --batch-size 256 --epochs 1
      [--algorithm lars] [--out D.f32]
      times MiniBatchDictionaryLearning.fit and optionally saves the dictionary (atom-major).

Prints one JSON object on stdout.
"""
import argparse
import json
import platform
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.decomposition import MiniBatchDictionaryLearning
from sklearn.linear_model import orthogonal_mp_gram


def load(path, cols):
    a = np.fromfile(path, dtype='<f4')
    if a.size % cols:
        sys.exit(f'{path}: {a.size} floats is not a multiple of {cols}')
    return a.reshape(-1, cols).astype(np.float64)


def cmd_omp(a):
    D = load(a.dict, a.features)  # [atoms, features]
    if D.shape[0] != a.atoms:
        sys.exit(f'{a.dict}: expected {a.atoms} atoms, got {D.shape[0]}')
    X = load(a.patches, a.features)  # [n, features]
    gram = D @ D.T
    times, times_total = [], []
    res = None
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        Xy = D @ X.T  # [atoms, n]
        t1 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # 'Orthogonal matching pursuit ended prematurely' on flat patches
            coef = orthogonal_mp_gram(gram, Xy, n_nonzero_coefs=a.k, copy_Gram=False, copy_Xy=False)
        t2 = time.perf_counter()
        times.append(t2 - t1)
        times_total.append(t2 - t0)
        res = np.linalg.norm(X - (D.T @ coef).T, axis=1)
    res.astype('<f4').tofile(a.patches + '.sk-res')
    n = X.shape[0]
    return {
        'task': 'omp', 'n': n, 'k': a.k,
        'seconds_gram_omp_median': float(np.median(times)),
        'seconds_total_median': float(np.median(times_total)),
        'patches_per_s': n / float(np.median(times_total)),
        'patches_per_s_gram_only': n / float(np.median(times)),
        'repeat': a.repeat,
    }


def cmd_dl(a):
    X = load(a.patches, a.features)
    model = MiniBatchDictionaryLearning(
        n_components=a.atoms, alpha=a.alpha, batch_size=a.batch_size, max_iter=a.epochs,
        fit_algorithm=a.algorithm, shuffle=True, random_state=0, max_no_improvement=None, tol=0,
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model.fit(X)
    sec = time.perf_counter() - t0
    D = model.components_
    norms = np.linalg.norm(D, axis=1)
    if a.out:
        (D / np.maximum(norms, 1e-12)[:, None]).astype('<f4').tofile(a.out)
    return {
        'task': 'dl', 'n': X.shape[0], 'atoms': a.atoms, 'alpha': a.alpha, 'batch_size': a.batch_size,
        'epochs': a.epochs, 'algorithm': a.algorithm, 'seconds': sec, 'patches_per_s': X.shape[0] * a.epochs / sec,
        'n_steps': int(getattr(model, 'n_steps_', -1)),
    }


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest='cmd', required=True)
    o = sub.add_parser('omp')
    o.add_argument('--dict', required=True)
    o.add_argument('--atoms', type=int, required=True)
    o.add_argument('--features', type=int, required=True)
    o.add_argument('--patches', required=True)
    o.add_argument('--k', type=int, default=5)
    o.add_argument('--repeat', type=int, default=3)
    d = sub.add_parser('dl')
    d.add_argument('--patches', required=True)
    d.add_argument('--features', type=int, required=True)
    d.add_argument('--atoms', type=int, default=225)
    d.add_argument('--alpha', type=float, default=0.1)
    d.add_argument('--batch-size', type=int, default=256)
    d.add_argument('--epochs', type=int, default=1)
    d.add_argument('--algorithm', default='lars')
    d.add_argument('--out')
    a = p.parse_args()
    out = cmd_omp(a) if a.cmd == 'omp' else cmd_dl(a)
    out.update({'sklearn': sklearn.__version__, 'numpy': np.__version__, 'python': platform.python_version()})
    print(json.dumps(out))


if __name__ == '__main__':
    main()
