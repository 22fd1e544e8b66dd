// SPDX-License-Identifier: GPL-2.0
// C peer of iu/tests/programs/src/bin/udp_firewall.rs, for the `programs`
// section of `cargo xtask bench` (issue #18): Ethernet, IPv4 with its
// header length (options skipped), UDP; sources in the LPM blocklist are
// dropped, the others counted per source in a `{packets, bytes}` struct
// with atomic adds. Written the way a C programmer would, built with
// `clang-22 -O2 -g -target bpf -mcpu=v3` and loaded by the same loader as
// iu's object.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define EEXIST 17

struct lpm_key {
	__u32 prefix_len;
	__u32 addr;
};

struct stats {
	__u64 packets;
	__u64 bytes;
};

// Blocked source prefixes (value unused).
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lpm_key);
	__type(value, __u32);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} BLOCKED SEC(".maps");

// UDP packets and payload bytes per source address (network order).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct stats);
	__uint(max_entries, 16384);
} SOURCES SEC(".maps");

SEC("xdp")
int udp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	struct udphdr *udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	__u32 source = ip->saddr;

	struct lpm_key lpm = { .prefix_len = 32, .addr = source };
	if (bpf_map_lookup_elem(&BLOCKED, &lpm))
		return XDP_DROP;

	__u64 len = bpf_ntohs(udp->len);
	struct stats *s = bpf_map_lookup_elem(&SOURCES, &source);
	if (s) {
		__sync_fetch_and_add(&s->packets, 1);
		__sync_fetch_and_add(&s->bytes, len);
		return XDP_PASS;
	}
	struct stats first = { .packets = 1, .bytes = len };
	if (bpf_map_update_elem(&SOURCES, &source, &first, BPF_NOEXIST) == -EEXIST) {
		// Another CPU created it first: add to theirs.
		s = bpf_map_lookup_elem(&SOURCES, &source);
		if (s) {
			__sync_fetch_and_add(&s->packets, 1);
			__sync_fetch_and_add(&s->bytes, len);
		}
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
