#!/usr/bin/env bash
# Create .venv with pinned torch and the project, and Debian's Fashion-MNIST when missing.
# Idempotent: a second run with an unchanged pyproject.toml does nothing but checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv
STAMP="$VENV/.transferlab-installed"
want="$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV"
    "$PY" -m venv "$VENV"
fi

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
    echo "[setup] installing pinned torch and transferlab into $VENV (first run takes a few minutes)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
    case "$(uname -m)" in
        x86_64) TORCH_PINS="torch==2.14.1 torchvision==0.29.1" ;;
        aarch64) TORCH_PINS="torch==2.9.1 torchvision==0.24.1" ;;
        *) TORCH_PINS="torch torchvision" ;;
    esac
    # shellcheck disable=SC2086
    "$VENV/bin/pip" install --quiet --disable-pip-version-check $TORCH_PINS
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -e ".[dev]" $TORCH_PINS
    echo "$want" > "$STAMP"
fi

FMNIST=/usr/share/datasets/fashion-mnist
if [ ! -f "$FMNIST/t10k-labels-idx1-ubyte.gz" ] && [ ! -f "$FMNIST/t10k-labels-idx1-ubyte" ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "[setup] installing Debian's dataset-fashion-mnist"
        apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
    else
        echo "[setup] Fashion-MNIST not found at $FMNIST and apt-get is not usable here;"
        echo "        install Debian's dataset-fashion-mnist or pass --data DIR with the IDX files."
    fi
fi
echo "[setup] ready: $VENV/bin/transferlab"
