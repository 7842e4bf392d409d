# Shared helpers for the native scripts (sourced, not run).
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${SWITCHBOARD_NATIVE_DIR:-$REPO/.native}"

say() { printf '[switchboard] %s\n' "$*" >&2; }

# Installs node dependencies when node_modules is missing or older than the lock file.
ensure_node_modules() {
  command -v node >/dev/null || { say "Node.js 20+ is required (node not found)"; exit 1; }
  if [ ! -d "$REPO/node_modules" ] || [ "$REPO/package-lock.json" -nt "$REPO/node_modules/.package-lock.json" ]; then
    say "installing node dependencies (npm ci)"
    (cd "$REPO" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# Creates .env from .env.example with a random JWT secret on first use.
ensure_env_file() {
  if [ ! -f "$REPO/.env" ]; then
    local secret
    secret="$(node -e "process.stdout.write(require('node:crypto').randomBytes(48).toString('base64url'))")"
    sed "s#^JWT_SECRET=.*#JWT_SECRET=$secret#" "$REPO/.env.example" >"$REPO/.env"
    say "wrote .env with a fresh JWT_SECRET"
  fi
}

# Some commands (apt-get) need root; use sudo when we are not root and it exists.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || { say "cannot install $* (no apt-get): install it by hand"; return 1; }
  if [ "$APT_UPDATED" = 0 ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
