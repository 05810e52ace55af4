#!/usr/bin/env bash
# Installs the side-by-side references the benchmarks compare against (Debian/Ubuntu, as root or with sudo):
# PyTorch and scikit-learn from the distribution (called through /usr/bin/python3), and OpenBLAS, without
# which Debian's PyTorch runs its dense layers on the reference BLAS (an MLP step ≈ 35–50 ms instead of ≈ 3 ms here;
# bench/native_ref.py prints the BLAS it used). Not needed by the library or its tests.
set -euo pipefail
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends python3-torch python3-sklearn libopenblas0-pthread
/usr/bin/python3 -c "import torch, sklearn; print('torch', torch.__version__, 'sklearn', sklearn.__version__)"
