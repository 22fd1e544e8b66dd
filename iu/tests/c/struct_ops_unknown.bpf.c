// SPDX-License-Identifier: GPL-2.0
// A `.struct_ops` variable of a struct no kernel offers to BPF: the load
// must be refused with the struct's name, as libbpf refuses it ("struct
// iu_no_such_ops is not found in kernel BTF"; iu/tests/struct_ops_c.rs).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct iu_no_such_ops {
	int (*run)(void);
	char name[16];
};

SEC("struct_ops")
int BPF_PROG(iu_no_such_run)
{
	return 0;
}

SEC(".struct_ops")
struct iu_no_such_ops iu_missing = {
	.run = (void *)iu_no_such_run,
	.name = "iu_missing",
};
