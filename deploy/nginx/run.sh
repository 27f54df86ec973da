#!/usr/bin/env bash
# Runs deploy/nginx/keyward.conf in front of three keyward instances on one PostgreSQL database,
# checks a token flow through it, then stops everything it started.
#
#   deploy/nginx/run.sh            # needs nginx, curl, a Go toolchain and PostgreSQL on 127.0.0.1
#   KEEP=1 deploy/nginx/run.sh     # leave it all running until Ctrl-C, to try it by hand
#
# Environment:
#   KEYWARD_BIN      a keyward binary (default: go build ./cmd/keyward into a temporary folder)
#   KEYWARD_TEST_DB  postgres:// URL of an empty database (default: create one on
#                    postgres://postgres@127.0.0.1:5432 and drop it at the end)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/keyward-nginx.XXXXXX")
pids=()
dropdb=""

say() { printf 'nginx flow: %s\n' "$*"; }
fail() {
  printf 'nginx flow: FAILED: %s\n' "$*" >&2
  for f in "$work"/keyward-*.log "$work"/error.log; do
    [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}

cleanup() {
  set +e
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  if [ -n "$dropdb" ]; then
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $dropdb WITH (FORCE)" >/dev/null 2>&1
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v nginx >/dev/null || fail "nginx is not installed (apt-get install -y nginx)"
command -v curl >/dev/null || fail "curl is not installed"

# A free loopback port: one that refuses a connection right now, below the kernel's ephemeral
# range, from which the outgoing connections of other programs (tests running beside this one)
# draw their ports: a port found free there can be taken before keyward binds it.
eph_lo=32768
read -r eph_lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
if [ "$eph_lo" -le 12000 ]; then eph_lo=32768; fi
free_port() {
  local p
  while :; do
    p=$((10000 + RANDOM % (eph_lo - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
}

# json_string FIELD: the first string value of FIELD in the JSON on standard input.
json_string() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -n 1; }

bin=${KEYWARD_BIN:-}
if [ -z "$bin" ]; then
  say "building keyward"
  (cd "$root" && go build -o "$work/keyward" ./cmd/keyward)
  bin="$work/keyward"
fi

db=${KEYWARD_TEST_DB:-}
admin_url="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
if [ -z "$db" ]; then
  command -v psql >/dev/null || fail "psql is not installed; set KEYWARD_TEST_DB to an empty database"
  dropdb="keyward_nginx_$RANDOM$RANDOM"
  psql -q "$admin_url" -c "CREATE DATABASE $dropdb" >/dev/null
  db="postgres://postgres@127.0.0.1:5432/$dropdb?sslmode=disable"
fi

front=$(free_port)
ports=($(free_port) $(free_port) $(free_port))
issuer="http://127.0.0.1:$front"
export KEYWARD_MASTER_KEY=${KEYWARD_MASTER_KEY:-$(head -c 32 /dev/urandom | base64)}
export KEYWARD_ADMIN_EMAIL=admin@keyward.localhost
export KEYWARD_ADMIN_PASSWORD=${KEYWARD_ADMIN_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -d '+/=')}

# launch I: start instance I on its port, in the background.
launch() {
  "$bin" serve --addr "127.0.0.1:${ports[$1]}" --db "$db" --issuer "$issuer" \
    --trusted-proxies 127.0.0.1/32 >"$work/keyward-$1.log" 2>&1 &
  pids[$1]=$!
}

say "starting three instances on one database"
for i in 0 1 2; do launch "$i"; done
for i in 0 1 2; do
  tries=0
  for _ in $(seq 1 300); do
    curl -fs --max-time 2 "http://127.0.0.1:${ports[$i]}/readyz" >/dev/null 2>&1 && break
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      # Another program took the port between the check and the bind: another port.
      grep -q "address already in use" "$work/keyward-$i.log" && [ $((tries += 1)) -le 5 ] ||
        fail "instance $i exited"
      ports[$i]=$(free_port)
      launch "$i"
    fi
    sleep 0.2
  done
  curl -fs --max-time 2 "http://127.0.0.1:${ports[$i]}/readyz" >/dev/null || fail "instance $i is not ready"
done

# The repository's configuration, with this run's ports.
sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$front/" \
    -e "s/127\.0\.0\.1:8081/127.0.0.1:${ports[0]}/" \
    -e "s/127\.0\.0\.1:8082/127.0.0.1:${ports[1]}/" \
    -e "s/127\.0\.0\.1:8083/127.0.0.1:${ports[2]}/" \
    "$here/keyward.conf" >"$work/keyward.conf"
mkdir -p "$work/tmp"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 256; }
http {
    access_log $work/access.log;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    include $work/keyward.conf;
}
CONF
nginx -p "$work" -c "$work/nginx.conf" -e "$work/error.log" -t -q || fail "nginx rejects the configuration"
# In the foreground, as a child of this script, so that the cleanup stops it like the instances.
nginx -p "$work" -c "$work/nginx.conf" -e "$work/error.log" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fs "$issuer/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
say "nginx on $issuer in front of ports ${ports[*]}"

# status METHOD PATH [curl options]: prints the HTTP status, leaves the body in $work/body.
status() {
  local method=$1 path=$2
  shift 2
  curl -s -o "$work/body" -w '%{http_code}' -X "$method" "$issuer$path" "$@"
}

code=$(status POST /oauth/token -d grant_type=password -d username="$KEYWARD_ADMIN_EMAIL" \
  --data-urlencode password="$KEYWARD_ADMIN_PASSWORD")
[ "$code" = 200 ] || fail "admin login: HTTP $code $(cat "$work/body")"
admin=$(json_string access_token <"$work/body")

code=$(status POST /v1/projects/default/api-keys -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' \
  -d '{"name":"behind-nginx","ips":["203.0.113.0/24"],"permissions":["images-view"]}')
[ "$code" = 201 ] || fail "create key: HTTP $code $(cat "$work/body")"
key=$(json_string key <"$work/body")
say "created a key allowed from 203.0.113.0/24 only"

# The client's address reaches keyward through X-Forwarded-For, from the trusted proxy only.
code=$(status POST /oauth/token -d grant_type=client_credentials -d client_secret="$key")
[ "$code" = 400 ] || fail "exchange from nginx's own address: want 400 unauthorized_client, got $code $(cat "$work/body")"
code=$(status POST /oauth/token -d grant_type=client_credentials -d client_secret="$key" \
  -H 'X-Forwarded-For: 203.0.113.7, 198.51.100.1')
[ "$code" = 400 ] || fail "a spoofed left-most hop must not count: got $code"
code=$(status POST /oauth/token -d grant_type=client_credentials -d client_secret="$key" \
  -H 'X-Forwarded-For: 203.0.113.7')
[ "$code" = 200 ] || fail "exchange from 203.0.113.7: HTTP $code $(cat "$work/body")"
refresh=$(json_string refresh_token <"$work/body")
say "exchange: the client address comes from X-Forwarded-For"

# Round robin sends each refresh to the next instance; each spends the token the previous
# instance issued.
spent=""
for i in $(seq 1 6); do
  code=$(status POST /oauth/token -d grant_type=refresh_token -d refresh_token="$refresh" \
    -H 'X-Forwarded-For: 203.0.113.7')
  [ "$code" = 200 ] || fail "refresh $i: HTTP $code $(cat "$work/body")"
  spent=$refresh
  refresh=$(json_string refresh_token <"$work/body")
done
code=$(status POST /oauth/token -d grant_type=refresh_token -d refresh_token="$spent" \
  -H 'X-Forwarded-For: 203.0.113.7')
[ "$code" = 400 ] || fail "a spent refresh token: want 400 invalid_grant, got $code"
for i in 0 1 2; do
  n=$(curl -s "http://127.0.0.1:${ports[$i]}/metrics" |
    sed -n 's/^keyward_token_requests_total{grant="refresh_token",result="ok"} \([0-9.e+]*\)$/\1/p')
  [ -n "$n" ] || fail "instance $i served no refresh: nginx did not spread the load"
done
say "six refreshes spread over the three instances; a spent token is refused"

code=$(status GET /metrics)
[ "$code" = 404 ] || fail "/metrics through nginx: want 404, got $code"

# One instance dies: nginx skips it and the others serve the sessions it issued.
code=$(status POST /oauth/token -d grant_type=client_credentials -d client_secret="$key" \
  -H 'X-Forwarded-For: 203.0.113.7')
[ "$code" = 200 ] || fail "exchange: HTTP $code $(cat "$work/body")"
refresh=$(json_string refresh_token <"$work/body")
kill -9 "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
for i in $(seq 1 4); do
  code=$(status POST /oauth/token -d grant_type=refresh_token -d refresh_token="$refresh" \
    -H 'X-Forwarded-For: 203.0.113.7')
  [ "$code" = 200 ] || fail "refresh $i after an instance died: HTTP $code $(cat "$work/body")"
  refresh=$(json_string refresh_token <"$work/body")
done
say "after killing one instance, refreshes go on through the other two"

if [ -n "${KEEP:-}" ]; then
  say "running on $issuer; admin $KEYWARD_ADMIN_EMAIL / $KEYWARD_ADMIN_PASSWORD; Ctrl-C to stop"
  wait
fi
say "ok"
