// SPDX-License-Identifier: GPL-2.0
// Load benchmark object with 51 CO-RE relocations (17 `task_struct`
// fields read directly and 17 through `real_parent`: 17 + 2 * 17), the
// libbpf-tools way. `cargo xtask bench --only core` loads it with C libbpf
// and with iu (docs/benchmarks.md, "CO-RE").
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

__u64 total;

SEC("tracepoint/syscalls/sys_enter_dup")
int core_bench(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 sum = 0;

	sum += BPF_CORE_READ(task, pid);
	sum += BPF_CORE_READ(task, tgid);
	sum += BPF_CORE_READ(task, prio);
	sum += BPF_CORE_READ(task, static_prio);
	sum += BPF_CORE_READ(task, normal_prio);
	sum += BPF_CORE_READ(task, rt_priority);
	sum += BPF_CORE_READ(task, flags);
	sum += BPF_CORE_READ(task, exit_code);
	sum += BPF_CORE_READ(task, exit_signal);
	sum += BPF_CORE_READ(task, pdeath_signal);
	sum += BPF_CORE_READ(task, on_cpu);
	sum += BPF_CORE_READ(task, wake_cpu);
	sum += BPF_CORE_READ(task, on_rq);
	sum += BPF_CORE_READ(task, policy);
	sum += BPF_CORE_READ(task, nr_cpus_allowed);
	sum += BPF_CORE_READ(task, personality);
	sum += BPF_CORE_READ(task, __state);
	sum += BPF_CORE_READ(task, real_parent, pid);
	sum += BPF_CORE_READ(task, real_parent, tgid);
	sum += BPF_CORE_READ(task, real_parent, prio);
	sum += BPF_CORE_READ(task, real_parent, static_prio);
	sum += BPF_CORE_READ(task, real_parent, normal_prio);
	sum += BPF_CORE_READ(task, real_parent, rt_priority);
	sum += BPF_CORE_READ(task, real_parent, flags);
	sum += BPF_CORE_READ(task, real_parent, exit_code);
	sum += BPF_CORE_READ(task, real_parent, exit_signal);
	sum += BPF_CORE_READ(task, real_parent, pdeath_signal);
	sum += BPF_CORE_READ(task, real_parent, on_cpu);
	sum += BPF_CORE_READ(task, real_parent, wake_cpu);
	sum += BPF_CORE_READ(task, real_parent, on_rq);
	sum += BPF_CORE_READ(task, real_parent, policy);
	sum += BPF_CORE_READ(task, real_parent, nr_cpus_allowed);
	sum += BPF_CORE_READ(task, real_parent, personality);
	sum += BPF_CORE_READ(task, real_parent, __state);
	total = sum;
	return 0;
}

// One field read, for the xlated-size comparison.
SEC("tracepoint/syscalls/sys_enter_dup")
int core_one_read(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	total = BPF_CORE_READ(task, tgid);
	return 0;
}
