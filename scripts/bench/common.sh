# Shared setup for the bench-*.sh scripts (sourced): the framework venv, the release build and the
# full-size VGG16 files written by the real frameworks, all under $WORK (tmpfs by default).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
VENV=${VENV:-.venv-samples}
WORK=${WORK:-/dev/shm/vggconv-bench}
BIN=.build/release/vggconv
mkdir -p "$WORK"
[ -x "$VENV/bin/python" ] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install -q -r samples/requirements.txt; }
[ -x "$BIN" ] || swift build -c release

# need_python_package MODULE PIP_SPEC...: install into the venv unless MODULE imports.
need_python_package() {
  local module=$1; shift
  "$VENV/bin/python" -c "import $module" 2>/dev/null || "$VENV/bin/pip" install -q "$@"
}
[ -f "$WORK/vgg16_tfkeras_model.h5" ] || "$VENV/bin/python" scripts/generate/vgg16_keras.py "$WORK" >/dev/null 2>&1
[ -f "$WORK/vgg16_torchvision.pth" ] || "$VENV/bin/python" scripts/generate/vgg16_torch.py "$WORK" >/dev/null 2>&1
