#!/usr/bin/env bash
# Makes the demo's MNIST victim and PCL bundle with the project's own CLI (small settings: about
# 2–4 min on 2 cores). Output: demo/public/models/mnist/{victim,pcl}/ (git-ignored; `npm run demo`
# runs this script when they are missing). Pass --force to remake them.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=demo/public/models/mnist
if [[ -f "$OUT/pcl/manifest.json" && "${1:-}" != "--force" ]]; then
  echo "demo bundle exists: $OUT (pass --force to remake it)" >&2
  exit 0
fi
[[ -f dist/src/cli/main.js ]] || npm run build
# victim: the paper's MNIST MLP (784-300-100-10), 3 epochs
node bin/pcl.js train --dataset mnist --arch mnist-mlp --epochs 3 --seed 0 --out "$OUT/victim" >/dev/null
# PCL: latent defender at fc2 + input defender on the paper's non-overlapping tiles, fitted on 10,000 clean training
# images, calibrated fusion. These are the settings the browser figures were measured with (bench/results/browser.md);
# drop the three pinned flags for the current defaults (fc1 + fc2, overlapping patches: more detection, ≈ 6× the
# input defender's work per digit).
node bin/pcl.js defend --model "$OUT/victim" --dataset mnist --limit 10000 --fusion calibrated --seed 0 \
  --checkpoints fc2 --input-stride tile --input-atoms 5 --out "$OUT/pcl" >/dev/null
du -sb "$OUT/victim" "$OUT/pcl" >&2
