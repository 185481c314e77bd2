#!/bin/bash
# Times `put` of a 760 MB file (the prototype's benchmark) over loopback with the built antt-shell.
# Usage: apps/shell/bench/put-760.sh udp|tcp   (build first; the file is generated in a temp dir and deleted)
set -euo pipefail
transport=${1:?usage: put-760.sh udp|tcp}
program=${ANTT_SHELL:-$(cd "$(dirname "$0")/.." && pwd)/dist/main.js}
work=$(mktemp -d /tmp/antt-shell-bench.XXXXXX)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/root" "$work/client"
head -c 796917760 /dev/urandom > "$work/client/big760.bin"
(cd "$work/root" && exec node "$program" serve --port 4456 --peer 127.0.0.1:3345 --passphrase bench \
  --identity "$work/server.json" --transport "$transport" > "$work/server.log" 2>&1) &
server=$!
cd "$work/client"
printf 'put big760.bin\nexit\n' | node "$program" connect --port 3345 --peer 127.0.0.1:4456 --passphrase bench \
  --identity "$work/client.json" --transport "$transport" | grep -E '^put big760.bin: |refused|lost'
