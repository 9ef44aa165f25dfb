#!/usr/bin/env bash
# yilian set-up: `bash run.sh demo` installs everything and serves the seeded demo;
# `bash run.sh test` installs everything and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
UV_VERSION=0.13.9

say() { printf '\033[1;34m[yilian]\033[0m %s\n' "$*"; }

python_env() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment in .venv"
    python3 -m venv "$VENV"
  fi
  if [ ! -x "$VENV/bin/uv" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  # The lock file pins every package; sync installs exactly that set.
  local stamp="$VENV/.lock-stamp"
  if [ ! -f "$stamp" ] || ! cmp -s requirements.lock "$stamp"; then
    say "installing locked Python dependencies"
    VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip sync --quiet requirements.lock
    cp requirements.lock "$stamp"
  fi
  VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install --quiet --no-deps -e .
}

web_assets() {
  # ECharts and htmx come from the npm registry and are served locally (no CDN).
  local vendor="src/yilian/web/static/vendor"
  if [ ! -f "$vendor/.stamp" ] || ! cmp -s package-lock.json "$vendor/.stamp"; then
    if ! command -v npm >/dev/null 2>&1; then
      say "npm is missing: installing nodejs and npm from Debian's packages"
      apt_install nodejs npm
    fi
    say "installing web assets (npm ci)"
    npm ci --silent --no-audit --no-fund
    mkdir -p "$vendor"
    cp node_modules/echarts/dist/echarts.min.js "$vendor/"
    cp node_modules/htmx.org/dist/htmx.min.js "$vendor/"
    cp package-lock.json "$vendor/.stamp"
  fi
}

apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

browser() {
  if [ -z "${YILIAN_CHROMIUM:-}" ]; then
    if ! command -v chromium >/dev/null 2>&1; then
      say "installing Debian's chromium for the browser tests"
      apt_install chromium fonts-noto-cjk
    fi
    export YILIAN_CHROMIUM
    YILIAN_CHROMIUM=$(command -v chromium)
  fi
}

fhir_examples() {
  # Official HL7 FHIR R4 examples (CC0), used by the exchange tests.
  local dir="$ROOT/.cache/fhir"
  if [ ! -d "$dir/node_modules/hl7.fhir.r4.examples" ]; then
    say "fetching hl7.fhir.r4.examples 4.0.1 from the npm registry"
    mkdir -p "$dir"
    # Its own package.json, or npm climbs to the repository's and installs there instead.
    [ -f "$dir/package.json" ] || echo '{"private": true}' > "$dir/package.json"
    (cd "$dir" && npm install --silent --no-audit --no-fund --no-save hl7.fhir.r4.examples@4.0.1 >/dev/null)
  fi
  export YILIAN_FHIR_EXAMPLES="$dir/node_modules/hl7.fhir.r4.examples"
}

h37rv_annotation() {
  # The RefSeq annotation of H37Rv (GenBank NC_000962.3) for the SNP-distance mask tests,
  # as tbtamr 1.0.4 (PyPI, GPL-3.0) ships it; only that one file is kept, in .cache.
  local dir="$ROOT/.cache/tb"
  local gbk="$dir/NC_000962.3.gbk"
  local sha=558bfb7691ef4770097f63c1805690cc67499c80300f104ec7cba7b4d1e6b471
  if [ ! -f "$gbk" ]; then
    say "fetching the H37Rv annotation (tbtamr 1.0.4) from PyPI"
    mkdir -p "$dir"
    rm -rf "$dir/wheel"
    "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
      --only-binary :all: --dest "$dir/wheel" tbtamr==1.0.4
    "$VENV/bin/python" -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("tbtamr/references/NC_000962.3.gbk") as f, open(sys.argv[2], "wb") as out:
    shutil.copyfileobj(f, out)' "$dir/wheel/tbtamr-1.0.4-py3-none-any.whl" "$gbk.part"
    rm -rf "$dir/wheel"
    echo "$sha  $gbk.part" | sha256sum --check --quiet
    mv "$gbk.part" "$gbk"
  fi
  export YILIAN_H37RV_ANNOTATION="$gbk"
}

case "${1:-}" in
  demo)
    python_env
    web_assets
    "$VENV/bin/yilian" demo "${@:2}"
    ;;
  test)
    python_env
    web_assets
    browser
    fhir_examples
    h37rv_annotation
    say "ruff"
    "$VENV/bin/ruff" check src tests bench
    "$VENV/bin/ruff" format --check src tests bench
    say "mypy"
    "$VENV/bin/mypy"
    say "pytest"
    "$VENV/bin/pytest" -n 2 --dist loadgroup "${@:2}"
    ;;
  *)
    echo "usage: bash run.sh demo | bash run.sh test [pytest args]" >&2
    exit 2
    ;;
esac
