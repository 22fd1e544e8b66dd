// SPDX-License-Identifier: GPL-2.0
// CO-RE the libbpf-tools way, loaded by iu (iu/tests/co_re_c.rs): clang's
// `.BTF.ext` relocations resolved by iu's resolver against the running
// kernel. Built once by `cargo xtask build` against the host's vmlinux.h
// and loaded unchanged on 6.1, 6.12 and 6.18.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

// Slot 0: the tid to watch (set by the test); the rest: what was read.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} results SEC(".maps");

// Kernels before 5.14 called `__state` `state`.
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

// No kernel has these.
struct task_struct___fake {
	int iu_no_such_field;
} __attribute__((preserve_access_index));
struct iu_no_such_type {
	int x;
};

static void put(__u32 slot, __u64 value)
{
	bpf_map_update_elem(&results, &slot, &value, BPF_ANY);
}

// `ctx->args[0]` through `struct trace_event_raw_sys_enter`: the access
// aya#1662 relocates wrongly (access string 0:2:0 into `args[6]`, which
// is followed by the flexible `__data[]`).
SEC("tracepoint/syscalls/sys_enter_dup")
int core_c(struct trace_event_raw_sys_enter *ctx)
{
	__u32 zero = 0;
	__u64 *want = bpf_map_lookup_elem(&results, &zero);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (!want || *want != tid)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	put(1, ctx->args[0]);
	put(2, BPF_CORE_READ(task, real_parent, tgid));
	put(3, BPF_CORE_READ(task, tgid));
	put(4, bpf_core_field_exists(task->__state));
	put(5, bpf_core_field_exists(((struct task_struct___old *)task)->state));
	put(6, bpf_core_field_exists(((struct task_struct___fake *)task)->iu_no_such_field));
	put(7, bpf_core_enum_value(enum pid_type, PIDTYPE_TGID));
	put(8, bpf_core_type_exists(struct task_struct));
	put(9, bpf_core_type_exists(struct iu_no_such_type));
	if (bpf_core_field_exists(task->__state))
		put(10, BPF_CORE_READ(task, __state));
	else
		put(10, BPF_CORE_READ((struct task_struct___old *)task, state));
	put(11, bpf_core_field_size(task->comm));
	put(12, bpf_core_enum_value_exists(enum pid_type, PIDTYPE_TGID));
	put(13, bpf_core_type_size(struct task_struct) > 0);
	char comm[16] = {};
	BPF_CORE_READ_STR_INTO(&comm, task, comm);
	put(14, *(__u64 *)comm);
	put(15, 1);
	return 0;
}
