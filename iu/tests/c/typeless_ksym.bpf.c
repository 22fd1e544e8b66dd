// SPDX-License-Identifier: GPL-2.0
// Typeless `__ksym` externs as libbpf objects use them: addresses from
// kallsyms, and a `__weak` one no kernel has, which is 0
// (iu/tests/libbpf_objects.rs).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern const void _stext __ksym;
extern const void iu_no_such_symbol __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} out SEC(".maps");

static void put(__u32 slot, __u64 value)
{
	bpf_map_update_elem(&out, &slot, &value, BPF_ANY);
}

SEC("syscall")
int addresses(void *ctx)
{
	put(0, (__u64)&_stext);
	put(1, (__u64)&iu_no_such_symbol);
	return 0;
}
