#!/usr/bin/env bash
# Starts a real certnet node (the debug build the tests made) with CLEAR, GREEN and AMBER records and
# a CLEAR/GREEN consumer, then runs the independent TAXII client check against it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/debug/certnet
[ -x "$bin" ] || cargo build --quiet -p certnet-node
work=$(mktemp -d)
node_pid=
cleanup() {
  if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
data="$work/data"
"$bin" --data-dir "$data" init --name CERT-CI --api 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 >/dev/null
printf '%s\n' 'ci-consumer-password-0123' |
  "$bin" --data-dir "$data" consumer add siem --bands clear,green --basic >/dev/null
"$bin" --data-dir "$data" run >"$work/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 300); do [ -s "$data/api.addr" ] && break; sleep 0.1; done
[ -s "$data/api.addr" ] || { echo "the node did not start"; cat "$work/node.log"; exit 1; }
addr=$(cat "$data/api.addr")
n=0
for tlp in clear green amber green clear amber clear; do
  n=$((n + 1))
  "$bin" --data-dir "$data" publish --title "CI $tlp incident #$n" --summary "TAXII client check" \
    --severity low --status new --tlp "$tlp" --indicator "domain:$tlp.ci.example" >/dev/null
done
python3 .ci/taxii_client_check.py "http://$addr" siem ci-consumer-password-0123 "$(cat "$data/api.token")"
