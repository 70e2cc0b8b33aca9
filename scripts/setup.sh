# Sourced by scripts/test and scripts/demo: system packages and the project venv, idempotently.
log() { printf '\n==> %s\n' "$*" >&2; }

setup_packages() {
  local missing=()
  for pair in dockerd:docker.io redis-server:redis-server redis-cli:redis-tools ip:iproute2 \
              iptables:iptables openssl:openssl nsenter:util-linux ps:procps \
              promtool:prometheus; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  ((${#missing[@]} == 0)) && return 0
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -x /etc/init.d/redis-server ]; then /etc/init.d/redis-server stop >/dev/null 2>&1 || true; fi
  # prometheus: promtool checks the shipped alert rules; the lab test runs its own server
  if [ -x /etc/init.d/prometheus ]; then /etc/init.d/prometheus stop >/dev/null 2>&1 || true; fi
}

setup_venv() {
  local stamp=.venv/.installed want
  want=$(sha256sum pyproject.toml | cut -c1-16)
  if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  log "creating .venv and installing swarmredis[test]"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[test]'
  echo "$want" >"$stamp"
}

setup_all() {
  [ "$(id -u)" = 0 ] || { echo "run as root: the lab needs network namespaces and dockerd" >&2; exit 1; }
  setup_packages
  setup_venv
}
