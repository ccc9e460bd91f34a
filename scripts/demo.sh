#!/usr/bin/env bash
# The main job, end to end: the motivating example (deploy/examples: NAD ip-192 and the
# licensed-app pod) attached by plexus in local mode, in network namespaces this script creates
# and removes. Installs what it needs, builds, attaches, shows the pod's interfaces and the
# network-status annotation, detaches, cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/install-deps.sh >/dev/null
preset=${PLEXUS_PRESET:-ci}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" --target plexus macvlan static bridge host-local loopback macvlan-bin static-bin bridge-bin host-local-bin loopback-bin

build=$root/build/$preset
plexus=$build/bin/plexus
suffix=$$
host=plexus-demo-host-$suffix
pod=plexus-demo-pod-$suffix
work=$(mktemp -d)

cleanup() {
  ip netns delete "$pod" 2>/dev/null || true
  ip netns delete "$host" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The "node": a namespace whose eth0 (one end of a veth pair) is the macvlan master, so nothing
# touches this machine's own interfaces. The "pod": an empty namespace.
ip netns add "$host"
ip netns add "$pod"
ip -n "$host" link add eth0 type veth peer name eth0-peer
ip -n "$host" link set eth0 up
ip -n "$host" link set eth0-peer up
ip -n "$host" link set lo up

# The cluster's default network (eth0 in the pod): a bridge with host-local IPAM, found by name
# in confDir, exactly as multus finds a clusterNetwork.
mkdir -p "$work/net.d" "$work/cache" "$work/ipam"
cat > "$work/net.d/10-cbr0.conf" <<JSON
{"cniVersion":"1.0.0","name":"cbr0","type":"bridge","bridge":"cbr0","isGateway":true,
 "ipam":{"type":"host-local","subnet":"10.244.1.0/24","dataDir":"$work/ipam"}}
JSON
cat > "$work/plexus.conf" <<JSON
{"cniVersion":"1.0.0","name":"plexus-demo","type":"plexus","clusterNetwork":"cbr0",
 "confDir":"$work/net.d","cniDir":"$work/cache","binDir":"$build/cni-bin",
 "pluginDirs":["$build/lib/plexus/plugins"]}
JSON

echo "== plexus inspect"
"$plexus" inspect --plugin-dir "$build/lib/plexus/plugins" --cni-path "$build/cni-bin"

echo "== attach default/licensed-app (deploy/examples) to $pod"
ip netns exec "$host" "$plexus" attach --config "$work/plexus.conf" --store "$root/deploy/examples" \
  --pod default/licensed-app --netns "/var/run/netns/$pod" --cni-path "$build/cni-bin"

echo "== ip addr in the pod"
ip -n "$pod" addr
ip -n "$pod" -j addr show net1 | grep -q '"address":"20:01:02:03:04:05"'
ip -n "$pod" -j addr show net1 | grep -q '"local":"192.168.111.10","prefixlen":24'
echo "net1 has MAC 20:01:02:03:04:05 and 192.168.111.10/24"

echo "== detach"
ip netns exec "$host" "$plexus" detach --config "$work/plexus.conf" --store "$root/deploy/examples" \
  --pod default/licensed-app --netns "/var/run/netns/$pod" --cni-path "$build/cni-bin"
if ip -n "$pod" link show net1 >/dev/null 2>&1; then echo "net1 still present after detach" >&2; exit 1; fi
echo "detached: the pod namespace holds only lo"
