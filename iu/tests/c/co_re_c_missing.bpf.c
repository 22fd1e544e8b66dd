// SPDX-License-Identifier: GPL-2.0
// A field no kernel has, read unconditionally: iu must refuse the load
// with a typed error naming the field and this C line
// (iu/tests/co_re_c.rs), never read a wrong offset.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct task_struct___fake {
	int iu_no_such_field;
} __attribute__((preserve_access_index));

int seen;

SEC("tracepoint/syscalls/sys_enter_dup")
int core_c_missing(void *ctx)
{
	struct task_struct___fake *task = (void *)bpf_get_current_task();
	seen = BPF_CORE_READ(task, iu_no_such_field);
	return 0;
}
