// SPDX-License-Identifier: GPL-2.0
// One object with a piece for each stage of iu's loader, read by the
// stages' unit tests (iu/src/loader/*.rs) without loading it: global data
// of every kind, a map of every shape the maps stage treats apart, a weak
// kfunc no kernel has, a static function the relocate stage links in, and
// sections as libbpf names them.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

volatile const __u32 threshold = 7;
__u64 seen = 1;
__u64 dropped;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 5000);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps");

extern void iu_no_such_kfunc(void) __ksym __weak;

static __noinline __u64 bump(__u32 key)
{
	__u64 *count = bpf_map_lookup_elem(&counts, &key);

	if (!count)
		return 0;
	return __sync_fetch_and_add(count, 1) + threshold;
}

SEC("tc")
int classify(struct __sk_buff *skb)
{
	if (bump(skb->len) > 100) {
		dropped++;
		return 2;
	}
	seen++;
	return 0;
}

SEC("?xdp")
int xdp_off(struct xdp_md *ctx)
{
	if (iu_no_such_kfunc)
		iu_no_such_kfunc();
	bpf_ringbuf_output(&events, &seen, sizeof(seen), 0);
	return XDP_PASS;
}

SEC("tp_btf/sched_switch")
int on_switch(u64 *ctx)
{
	__u32 key = 0;

	bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &key, sizeof(key));
	return bpf_map_lookup_elem(&outer, &key) != 0;
}
