#!/usr/bin/env bash
# System packages the test suite needs beyond the Python environment: Chromium and its driver
# for the dashboard's browser test, SLURM and munge for the compute manager's tests. Installs
# them with apt-get only when they are missing and we are root; otherwise says what to install.
# Never downloads a browser of its own.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v slurmctld >/dev/null 2>&1 || missing+=(slurm-wlm)
command -v munged >/dev/null 2>&1 || missing+=(munge)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
    echo "the dashboard's browser test and the SLURM tests need ${missing[*]}: install them, e.g. sudo apt-get install ${missing[*]}" >&2
fi
