#!/usr/bin/env bash
# The original design's launcher: one line over `sensex app` (honours STREAMLIT_SERVER_PORT / _ADDRESS).
exec "$(dirname "$0")/../.venv/bin/sensex" app "$@"
