#!/usr/bin/env bash
# A teaching lab, tested for real: JupyterHub from the Python package index with configurable-http-proxy from
# npm, three local Unix accounts (created if missing), the shared install (`prunelab lab install --shared`),
# and a prunelab notebook cell run in each account's own kernel through the Hub (kernel/hub_check.py).
# Needs root (it creates accounts and the Hub spawns servers as them). The accounts must reach the toolchain
# and cargo home the shared install names: where these sit in root's home or in private temporary folders,
# this opens the folders on the way to them for traversal (o+x) and puts the modes back at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$(id -u)" != 0 ]; then
  exec sudo -E bash "$0" "$@"
fi
start=$(date +%s)
. kernel/ensure-rust.sh
# shellcheck disable=SC1091
. kernel/build.sh
users=(prunelab-s1 prunelab-s2 prunelab-s3)

venv=target/hub-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -c kernel/constraints.txt jupyterhub jupyterlab websocket-client requests
node=target/hub-node
if ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -x "$node/node_modules/.bin/configurable-http-proxy" ]; then
  mkdir -p "$node"
  npm install --silent --prefix "$node" configurable-http-proxy@5.3.0 >/dev/null
fi
for u in "${users[@]}"; do
  id "$u" >/dev/null 2>&1 || useradd -m -s /bin/bash "$u"
  rm -rf "/home/$u/.cache" "/home/$u/.local/share/jupyter"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/prunelab-hub.XXXXXX")
chmod 755 "$work"
restore=()
open_path() {  # every folder above $1 (and $1) traversable by others, as it was restored at exit
  local d
  d=$(readlink -f "$1")
  while [ "$d" != "/" ]; do
    if [ -d "$d" ] && [ $(( 0$(stat -c %a "$d") & 1 )) = 0 ]; then
      restore+=("$(stat -c %a "$d") $d")
      chmod o+x "$d"
    fi
    d=$(dirname "$d")
  done
}
cleanup() {
  local r
  for r in "${restore[@]+"${restore[@]}"}"; do chmod "${r%% *}" "${r#* }"; done
  rm -rf "$work"
}
trap cleanup EXIT
cargo_home=${CARGO_HOME:-$HOME/.cargo}
open_path "$(rustc --print sysroot)"
open_path "$cargo_home"
open_path "$(readlink -f "$venv/bin/python")"
open_path "$PWD/target/release/prunelab"
chmod -R o+rX "$cargo_home/registry" 2>/dev/null || true

target/release/prunelab lab install --shared "$work/shared" --prefix "$work/prefix"

free_port() {
  "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
hub_port=$(free_port)
proxy_api_port=$(free_port)
token=$("$venv/bin/python" -c 'import secrets; print(secrets.token_hex(32))')
cat > "$work/hub_config.py" <<CONFIG
c.JupyterHub.bind_url = "http://127.0.0.1:$port"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = $hub_port
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:$proxy_api_port"
c.JupyterHub.db_url = "sqlite:///$work/hub.sqlite"
c.JupyterHub.cookie_secret_file = "$work/cookie_secret"
c.JupyterHub.pid_file = "$work/hub.pid"
c.ConfigurableHTTPProxy.command = ["$PWD/$node/node_modules/.bin/configurable-http-proxy"]
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = set("${users[*]}".split())
c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.Spawner.cmd = ["$PWD/$venv/bin/jupyterhub-singleuser"]
c.Spawner.environment = {"JUPYTER_PATH": "$work/prefix/share/jupyter"}
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.JupyterHub.services = [{"name": "lab-check", "api_token": "$token"}]
c.JupyterHub.load_roles = [{"name": "lab-check", "services": ["lab-check"],
                            "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"]}]
CONFIG
chmod 600 "$work/hub_config.py"
repo=$PWD
(cd "$work" && PATH="$repo/$node/node_modules/.bin:$PATH" \
  "$repo/$venv/bin/python" "$repo/kernel/hub_check.py" hub_config.py "http://127.0.0.1:$port" "$token" \
  "${users[@]}") || { tail -40 "$work/hub.log"; exit 1; }
echo "JupyterHub check passed in $(( $(date +%s) - start )) s"
