// SPDX-License-Identifier: GPL-2.0
// Maps with initial slots, as libbpf objects write them (`.values`): a
// program array holding two of the object's programs and a map of maps
// holding two of its maps (iu/tests/libbpf_objects.rs). The first byte of
// a test packet picks the slot.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
};

struct inner inner_a SEC(".maps");
struct inner inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [0] = &inner_a, [2] = &inner_b },
};

SEC("xdp")
int tail_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int tail_tx(struct xdp_md *ctx)
{
	return XDP_TX;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int (void *));
} jumps SEC(".maps") = {
	.values = { [1] = (void *)&tail_drop, [3] = (void *)&tail_tx },
};

static __u32 first_byte(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;

	if ((void *)(data + 1) > (void *)(long)ctx->data_end)
		return 0;
	return data[0];
}

/* Jumps to slot `first byte` of `jumps`: XDP_PASS where it is empty. */
SEC("xdp")
int jump(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jumps, first_byte(ctx));
	return XDP_PASS;
}

/* XDP_PASS if slot `first byte` of `outer` holds a map, XDP_ABORTED if not. */
SEC("xdp")
int has_inner(struct xdp_md *ctx)
{
	__u32 slot = first_byte(ctx);

	return bpf_map_lookup_elem(&outer, &slot) ? XDP_PASS : XDP_ABORTED;
}
