// SPDX-License-Identifier: GPL-2.0
// C peer of examples/tc_counter (the kernel side), for the `programs`
// section of `cargo xtask bench`: the same map and the same logic. Built
// with `clang-22 -O2 -g -target bpf -mcpu=v3` against Debian's libbpf-dev
// and loaded by the same loader as iu's object.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

// 0: ingress bytes, 1: ingress packets, 2: egress bytes, 3: egress packets.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} COUNTERS SEC(".maps");

// Array<u64>::add: atomically add to a slot that exists.
static __always_inline void add(__u32 slot, __u64 delta)
{
	__u64 *value = bpf_map_lookup_elem(&COUNTERS, &slot);
	if (value)
		__sync_fetch_and_add(value, delta);
}

static __always_inline int count(struct __sk_buff *skb, __u32 slot)
{
	add(slot, skb->len);
	add(slot + 1, 1);
	return TC_ACT_OK;
}

SEC("classifier")
int ingress(struct __sk_buff *skb)
{
	return count(skb, 0);
}

SEC("classifier")
int egress(struct __sk_buff *skb)
{
	return count(skb, 2);
}

char LICENSE[] SEC("license") = "GPL";
