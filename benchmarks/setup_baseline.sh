#!/usr/bin/env bash
# Builds benchmarks/.venv-plotman: plotman 0.5.3, the baseline the benchmarks compare against.
#
# plotman 0.5.3 pins releases of its dependencies that do not build on Python 3.11 (pyyaml 5.4,
# psutil 5.8, pendulum 2.1, ...), so plotman goes in with --no-deps and its runtime dependencies
# (its Requires-Dist, without the extras) at current versions. Idempotent: does nothing when the
# venv already imports plotman.job at the wanted version; rebuilds it otherwise.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV="$HERE/.venv-plotman"
PYTHON=${PYTHON:-python3.11}
PLOTMAN=plotman==0.5.3
# plotman 0.5.3's Requires-Dist, unpinned.
DEPS=(appdirs attrs click desert marshmallow packaging pendulum psutil pyyaml texttable typing-extensions)

ready() {
  [[ -x $VENV/bin/python ]] &&
    "$VENV/bin/python" - <<'EOF' 2>/dev/null
import importlib.metadata, sys
import plotman.job, plotman.plotters  # noqa: F401
sys.exit(importlib.metadata.version("plotman") != "0.5.3")
EOF
}

if ready; then
  echo "setup_baseline: $VENV is ready"
  exit 0
fi

echo "setup_baseline: building $VENV"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "${DEPS[@]}"
# Last, so that pip does not report the pins we are ignoring on purpose as conflicts.
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps "$PLOTMAN"
if ! ready; then
  echo "setup_baseline: $VENV was built but cannot import plotman.job" >&2
  exit 1
fi
echo "setup_baseline: $VENV is ready"
