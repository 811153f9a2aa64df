#!/usr/bin/env bash
# An Azure ML score.py + environment.yml, registered, served in its own environment and called.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/../entry-serve.sh"
cd "$(mktemp -d)"
mlops init
python "$HERE/train.py" model.joblib
mlops register model.joblib --name iris-azure --entry "$HERE/score.py" --environment "$HERE/environment.yml"
mlops models show iris-azure
# The first serve builds the environment (cached after): up to 5 minutes.
serve_and_score iris-azure '{"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}' 300
