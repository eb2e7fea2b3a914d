#!/usr/bin/env sh
# Validates the deployment files without a Docker engine:
#   compose.yml against the Compose specification (check-jsonschema, from PyPI),
#   prometheus.yml and the shipped rules with promtool (Debian/Ubuntu: apt-get install prometheus).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
command -v check-jsonschema >/dev/null || { echo "install check-jsonschema: pip install check-jsonschema" >&2; exit 1; }
command -v promtool >/dev/null || { echo "install promtool: apt-get install -y prometheus" >&2; exit 1; }
check-jsonschema --builtin-schema vendor.compose-spec "$here/compose.yml"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/rules"
cp "$here/prometheus.yml" "$scratch/"
cp "$here/../docs/operations/prometheus-rules.yml" "$scratch/rules/infra-mind.yml"
promtool check config "$scratch/prometheus.yml"
