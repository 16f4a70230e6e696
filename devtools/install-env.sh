#!/usr/bin/env bash
# Install the project's Python environment: gufe 1.x, openfe 1.x and their helpers, then the package.
#
#   devtools/install-env.sh VENV EXTRAS           e.g. devtools/install-env.sh .venv chemistry,test,docs
#   devtools/install-env.sh --upstream VENV       upstream alchemiscale 0.8.0 as a test and benchmark peer (never
#                                                 imported by ours), with its servers' dependencies and openfe
#
# The gufe 1.x stack is published on conda-forge and as git tags, not on PyPI (PyPI has gufe 0.4 only). It comes
# from a wheelhouse when there is one (ALCHEMISCALE_WHEELHOUSE, default ../shared/wheels), else from the packages'
# public release tags (devtools/requirements/openfe-stack-git.txt). Everything else comes from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

UPSTREAM=0
if [[ "${1:-}" == "--upstream" ]]; then UPSTREAM=1; shift; fi
VENV=${1:?usage: install-env.sh [--upstream] VENV [EXTRAS]}
EXTRAS=${2:-chemistry}
PYTHON=${PYTHON:-python3.11}
WHEELHOUSE=${ALCHEMISCALE_WHEELHOUSE:-../shared/wheels}
REQ=devtools/requirements

fail() {
    echo "install-env: $*" >&2
    exit 1
}

[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV" || fail "could not create $VENV with $PYTHON (set PYTHON=/path/to/python3.11)"
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" --upgrade pip setuptools wheel

if [[ -d "$WHEELHOUSE" ]] && ls "$WHEELHOUSE"/gufe-1.*.whl >/dev/null 2>&1; then
    echo "install-env: gufe/openfe stack from the wheelhouse $WHEELHOUSE"
    FROM=(--find-links "$WHEELHOUSE")
    SUFFIX=""
else
    echo "install-env: no wheelhouse at $WHEELHOUSE (set ALCHEMISCALE_WHEELHOUSE); using the public git release tags"
    FROM=()
    SUFFIX="-git"
fi

install_stack() {
    # the requirements files of the stack packages wanted; their PyPI dependencies resolve as usual
    "${PIP[@]}" "${FROM[@]}" "${@/#/-r}" || fail "could not install the gufe/openfe stack ($*). Check the wheelhouse \
(ALCHEMISCALE_WHEELHOUSE=$WHEELHOUSE) or network access to the git tags, then run make again."
}

if [[ $UPSTREAM == 1 ]]; then
    install_stack "$REQ/openfe-stack$SUFFIX.txt" "$REQ/upstream-peer.txt" "$REQ/upstream-bench.txt"
    "${PIP[@]}" --no-deps "alchemiscale==0.8.0" || fail "could not install alchemiscale 0.8.0 from PyPI"
else
    install_stack "$REQ/openfe-stack$SUFFIX.txt"
    "${PIP[@]}" "${FROM[@]}" --no-deps -r "$REQ/openfe-stack-nodeps$SUFFIX.txt" || fail "could not install openfe_analysis"
    "${PIP[@]}" "${FROM[@]}" -e ".[$EXTRAS]" || fail "could not install the package with extras [$EXTRAS]"
fi
