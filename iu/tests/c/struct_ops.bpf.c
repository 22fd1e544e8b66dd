// SPDX-License-Identifier: GPL-2.0
// A TCP congestion control in BPF in libbpf's format (a `.struct_ops`
// map), which iu does not load yet (it loads struct_ops written in Rust,
// iu/tests/struct_ops.rs): the loader must refuse it, naming the program
// and the feature, instead of loading nothing without a word
// (iu/tests/libbpf_objects.rs).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("struct_ops/iu_cong_avoid")
void iu_cong_avoid(unsigned long long *ctx)
{
}

SEC(".struct_ops")
struct tcp_congestion_ops iu_cc = {
	.cong_avoid = (void *)iu_cong_avoid,
	.name = "iu_cc",
};
