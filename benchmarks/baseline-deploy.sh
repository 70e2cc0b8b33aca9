#!/usr/bin/env bash
# The hand-written alternative to `swarmredis deploy`, as a platform team would script it:
# one Swarm service per Redis node (TLS on, a password, the same image and hosts), created
# one after the other, then `redis-cli --cluster create` from inside a node, done at
# `cluster_state:ok`. scripts/bench times it side by side with swarmredis.
#   benchmarks/baseline-deploy.sh up SHARDS REPLICAS HOSTS   deploy (HOSTS: lab-h1,lab-h2,...)
#   benchmarks/baseline-deploy.sh rm                         remove everything it made
# Talks to DOCKER_HOST; node 1 is pinned to the first host, which must be that engine.
set -euo pipefail
NAME=${BASELINE_NAME:-baseline}
IMAGE=${BASELINE_IMAGE:-redis:7.0}
PASS=${BASELINE_PASSWORD:-baseline-$$-$RANDOM}

rm_all() {
  local ids
  ids=$(docker service ls -q --filter "label=$NAME")
  # shellcheck disable=SC2086
  [ -z "$ids" ] || docker service rm $ids >/dev/null
  for _ in $(seq 150); do  # Swarm frees the secrets and the network once the tasks are gone
    docker secret rm "$NAME-ca" "$NAME-crt" "$NAME-key" >/dev/null 2>&1 || true
    docker network rm "$NAME" >/dev/null 2>&1 || true
    [ -z "$(docker secret ls -q --filter "label=$NAME")$(docker network ls -q --filter "label=$NAME")" ] && return 0
    sleep 0.2
  done
  echo "baseline: secrets or network still in use after 30 s" >&2; return 1
}

up() {
  local replicas=$2 n=$(($1 * (1 + $2))) tmp i
  IFS=, read -r -a hosts <<<"$3"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=$NAME-ca" -keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$NAME" \
    -keyout "$tmp/redis.key" -out "$tmp/redis.csr" 2>/dev/null
  openssl x509 -req -in "$tmp/redis.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" \
    -CAcreateserial -days 30 -out "$tmp/redis.crt" 2>/dev/null
  docker network create -d overlay --attachable --label "$NAME" "$NAME" >/dev/null
  for f in ca crt key; do
    docker secret create --label "$NAME" "$NAME-$f" "$tmp/$( [ $f = ca ] && echo ca.crt || echo redis.$f)" >/dev/null
  done
  for i in $(seq "$n"); do
    docker service create --detach --quiet --no-resolve-image --name "$NAME-node-$i" --label "$NAME" \
      --network "$NAME" \
      --constraint "node.hostname == ${hosts[$(((i - 1) % ${#hosts[@]}))]}" \
      --secret "source=$NAME-ca,target=ca.crt,uid=999,mode=0400" \
      --secret "source=$NAME-crt,target=redis.crt,uid=999,mode=0400" \
      --secret "source=$NAME-key,target=redis.key,uid=999,mode=0400" \
      --publish "mode=host,target=6379,published=$((7900 + i))" \
      "$IMAGE" redis-server --port 0 --tls-port 6379 --tls-cluster yes --tls-replication yes \
      --tls-cert-file /run/secrets/redis.crt --tls-key-file /run/secrets/redis.key \
      --tls-ca-cert-file /run/secrets/ca.crt --cluster-enabled yes --appendonly yes \
      --requirepass "$PASS" --masterauth "$PASS" >/dev/null
  done
  local addrs=() task ip cli
  for i in $(seq "$n"); do  # every task running, and its overlay address
    for _ in $(seq 600); do
      task=$(docker service ps -q --filter desired-state=running "$NAME-node-$i" | head -1)
      [ -n "$task" ] && [ "$(docker inspect -f '{{.Status.State}}' "$task")" = running ] && break
      sleep 0.1
    done
    ip=$(docker inspect -f "{{range .NetworksAttachments}}{{if eq .Network.Spec.Name \"$NAME\"}}{{index .Addresses 0}}{{end}}{{end}}" "$task")
    addrs+=("${ip%/*}:6379")
  done
  cli=$(docker ps -q --filter "label=com.docker.swarm.service.name=$NAME-node-1" | head -1)
  run_cli() {
    docker exec "$cli" redis-cli --tls --cacert /run/secrets/ca.crt --cert /run/secrets/redis.crt \
      --key /run/secrets/redis.key -a "$PASS" --no-auth-warning "$@"
  }
  for _ in $(seq 100); do run_cli -h "${addrs[0]%:*}" -p 6379 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  run_cli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes >/dev/null
  for _ in $(seq 600); do
    run_cli -h "${addrs[0]%:*}" -p 6379 cluster info | grep -q '^cluster_state:ok' && return 0
    sleep 0.1
  done
  echo "baseline: cluster_state not ok after 60 s" >&2; return 1
}

case ${1:-} in
  up) shift; up "$@" ;;
  rm) rm_all ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
