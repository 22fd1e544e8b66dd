// SPDX-License-Identifier: GPL-2.0
// C peer of examples/xdp_firewall (the kernel side), for the `programs`
// section of `cargo xtask bench`: the same maps (names, types, sizes, flags)
// and the same logic, written the way a C programmer would. Built with
// `clang-22 -O2 -g -target bpf -mcpu=v3` against Debian's libbpf-dev and
// loaded by the same loader as iu's object.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// LpmKey<[u8; 4]>.
struct lpm_key {
	__u32 prefix_len;
	__u8 data[4];
};

// xdp_firewall_common::CountKey.
struct count_key {
	__u8 addr[4];
	__u32 action;
};

#define PASSED 0
#define DROPPED 1

#define ETH_HEADER 14
// Offset of the source address in the IPv4 header.
#define IPV4_SOURCE 12
#define EEXIST 17

// Blocked prefixes (value unused).
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lpm_key);
	__type(value, __u32);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} BLOCKED SEC(".maps");

// Packets per (source, action).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct count_key);
	__type(value, __u64);
	__uint(max_entries, 16384);
} COUNTS SEC(".maps");

// HashMap<_, u64>::add: add to the entry, or create it; if another CPU
// created it first, add to theirs.
static __always_inline void add(struct count_key *key, __u64 delta)
{
	__u64 *value = bpf_map_lookup_elem(&COUNTS, key);
	if (value) {
		__sync_fetch_and_add(value, delta);
		return;
	}
	if (bpf_map_update_elem(&COUNTS, key, &delta, BPF_NOEXIST) == -EEXIST) {
		value = bpf_map_lookup_elem(&COUNTS, key);
		if (value)
			__sync_fetch_and_add(value, delta);
	}
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	// Not IPv4, or too short to be: not this firewall's business.
	if (data + ETH_HEADER > data_end)
		return XDP_PASS;
	if (*(__u16 *)(data + 12) != __builtin_bswap16(0x0800))
		return XDP_PASS;
	if (data + ETH_HEADER + IPV4_SOURCE + 4 > data_end)
		return XDP_PASS;
	__u32 source = *(__u32 *)(data + ETH_HEADER + IPV4_SOURCE);

	struct lpm_key lpm = { .prefix_len = 32 };
	__builtin_memcpy(lpm.data, &source, 4);
	int blocked = bpf_map_lookup_elem(&BLOCKED, &lpm) != NULL;

	struct count_key key = { .action = blocked ? DROPPED : PASSED };
	__builtin_memcpy(key.addr, &source, 4);
	add(&key, 1);
	return blocked ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
