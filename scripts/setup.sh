#!/usr/bin/env bash
# Set up .venv with autoreward and everything it needs; safe to run again (it only adds what is missing).
#
# torch comes first, so that `pip install -e .` finds it and never pulls a build of its own:
#   - no NVIDIA GPU: the CPU build of torch 2.13.0 (a local wheel when pip has one, else PyTorch's CPU index);
#   - NVIDIA GPU (nvidia-smi works): torch 2.13.0 from PyPI, a CUDA build.
# Override with TORCH_SPEC (e.g. "torch==2.13.0") and TORCH_INDEX_URL (e.g. https://download.pytorch.org/whl/cu128).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check)

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  spec=${TORCH_SPEC:-torch==2.13.0}
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    "${PIP[@]}" install "$spec" --index-url "$TORCH_INDEX_URL"
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: NVIDIA GPU found: installing $spec (CUDA build) from PyPI"
    "${PIP[@]}" install "$spec"
  elif "${PIP[@]}" install --no-index --no-deps "$spec" 2>/dev/null; then
    echo "setup: installed the local CPU wheel of $spec"
  else
    echo "setup: no GPU: installing the CPU build of $spec from PyTorch's CPU index"
    "${PIP[@]}" install "$spec" --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple
  fi
fi
# ray: the Ray executor's tests run against a real local cluster (about 15 s more to install); tensorboard: the
# event files training writes when it is installed are tested too
"${PIP[@]}" install -q -e ".[dev,ray,tensorboard]"
.venv/bin/python -c "import torch, nle, minihack, stable_baselines3, autoreward; \
print(f'setup: ready (autoreward {autoreward.__version__}, torch {torch.__version__}, cuda={torch.cuda.is_available()})')" \
  2>&1 | grep -v pkg_resources
