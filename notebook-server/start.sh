#!/usr/bin/env sh
# Start JupyterLab the way Kubeflow's notebook controller expects: port 8888 (JUPYTER_PORT
# overrides it for tests), under NB_PREFIX, no token (the Istio gateway authenticates users).
# The notebooks are copied into the workspace once, so a user's edits survive restarts.
set -eu
PROJECT_DIR=$(cd "$(dirname "$0")/.." && pwd)
WORKSPACE="${HOME}/kubeflow-mnist"
if [ ! -d "${WORKSPACE}" ]; then
  mkdir -p "${WORKSPACE}"
  cp -R "${PROJECT_DIR}/notebooks" "${WORKSPACE}/notebooks"
fi
# The image runs as jovyan; root happens only on a developer's machine or in CI.
if [ "$(id -u)" = 0 ]; then set -- --allow-root; fi
exec jupyter lab "$@" \
  --notebook-dir="${HOME}" \
  --ip="${JUPYTER_IP:-0.0.0.0}" \
  --port="${JUPYTER_PORT:-8888}" \
  --no-browser \
  --ServerApp.base_url="${NB_PREFIX:-/}" \
  --IdentityProvider.token="${JUPYTER_TOKEN:-}" \
  --ServerApp.password='' \
  --ServerApp.allow_origin='*' \
  --ServerApp.authenticate_prometheus=False
