#!/usr/bin/env bash
# The motivating workload as a 3-replica StatefulSet (deploy/examples/licensed-app-statefulset.yaml:
# NAD ip-192-sticky, macvlan with the sticky IPAM), attached by plexus in local mode in network
# namespaces this script creates and removes: replicas 0..2 each get their own IP and MAC, replica 1
# deleted and recreated on another node gets the same pair back, and deleting the StatefulSet
# releases every claim. Prints the replica table before and after the restart.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/install-deps.sh >/dev/null
preset=${PLEXUS_PRESET:-ci}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" --target plexus macvlan sticky bridge host-local loopback macvlan-bin bridge-bin host-local-bin loopback-bin

build=$root/build/$preset
plexus=$build/bin/plexus
suffix=$$
host=plexus-sts-host-$suffix
work=$(mktemp -d)
store=$work/store
pods=()

cleanup() {
  for pod in "${pods[@]}"; do ip netns delete "$pod" 2>/dev/null || true; done
  ip netns delete "$host" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The "node": a namespace whose eth0 (one end of a veth pair) is the macvlan master, so nothing
# touches this machine's own interfaces. Each replica's sandbox: an empty namespace.
ip netns add "$host"
ip -n "$host" link add eth0 type veth peer name eth0-peer
ip -n "$host" link set eth0 up
ip -n "$host" link set eth0-peer up
ip -n "$host" link set lo up
new_sandbox() {
  local name=plexus-sts-$1-$suffix
  ip netns add "$name"
  pods+=("$name")
  sandbox=$name
}

# The manifest store: the example file as is; claims are written to its claims/ directory.
mkdir -p "$store" "$work/net.d" "$work/cache" "$work/ipam"
cp deploy/examples/licensed-app-statefulset.yaml "$store/"
cat > "$work/net.d/10-cbr0.conf" <<JSON
{"cniVersion":"1.0.0","name":"cbr0","type":"bridge","bridge":"cbr0","isGateway":true,
 "ipam":{"type":"host-local","subnet":"10.244.1.0/24","dataDir":"$work/ipam"}}
JSON
cat > "$work/plexus.conf" <<JSON
{"cniVersion":"1.0.0","name":"plexus-demo","type":"plexus","clusterNetwork":"cbr0",
 "confDir":"$work/net.d","cniDir":"$work/cache","binDir":"$build/cni-bin",
 "pluginDirs":["$build/lib/plexus/plugins"]}
JSON

declare -A sandbox_of node_of
plexus_pod() {  # attach|detach REPLICA NODE
  node_of[$2]=$3
  ip netns exec "$host" "$plexus" "$1" --config "$work/plexus.conf" --store "$store" --pod "default/licensed-app-$2" \
    --netns "/var/run/netns/${sandbox_of[$2]}" --cni-path "$build/cni-bin" --node "$3" >/dev/null
}

# replica, IP and MAC as the kernel has them in the replica's net1, and the node it runs on.
table() {
  printf '%-16s %-20s %-19s %s\n' REPLICA IP MAC NODE
  for k in 0 1 2; do
    local addr mac ip
    addr=$(ip -n "${sandbox_of[$k]}" -j addr show net1)
    mac=$(jq -r '.[0].address' <<<"$addr")
    ip=$(jq -r '.[0].addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"' <<<"$addr")
    printf '%-16s %-20s %-19s %s\n' "licensed-app-$k" "$ip" "$mac" "${node_of[$k]}"
    pair[$k]="$ip $mac"
  done
}

echo "== the StatefulSet's 3 replicas start on node-a and node-b"
nodes=(node-a node-b node-a)
for k in 0 1 2; do
  new_sandbox "$k"
  sandbox_of[$k]=$sandbox
  plexus_pod attach "$k" "${nodes[$k]}"
done
declare -a pair
table
before=("${pair[@]}")
for k in 0 1 2; do
  [ "${pair[$k]}" = "192.168.111.1$k/24 20:01:02:03:04:0$((5 + k))" ] || { echo "replica $k got ${pair[$k]}" >&2; exit 1; }
done

echo "== replica 1 deleted, then recreated on node-c (a new sandbox)"
plexus_pod detach 1 node-b
ip netns delete "${sandbox_of[1]}"
new_sandbox 1-restarted
sandbox_of[1]=$sandbox
plexus_pod attach 1 node-c
table
[ "${pair[1]}" = "${before[1]}" ] || { echo "replica 1 came back with ${pair[1]}, not ${before[1]}" >&2; exit 1; }
echo "replica 1 got the same IP and MAC back: ${pair[1]}"

echo "== the StatefulSet deleted: its pods go, then its claims"
for k in 0 1 2; do plexus_pod detach "$k" "${node_of[$k]}"; done
rm "$store/licensed-app-statefulset.yaml"
"$plexus" claims --store "$store"
if compgen -G "$store/claims/*.json" >/dev/null; then echo "claims left after the StatefulSet was deleted" >&2; exit 1; fi
echo "every claim released"
