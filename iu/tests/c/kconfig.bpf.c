// SPDX-License-Identifier: GPL-2.0
// `__kconfig` externs as libbpf objects use them: the kernel's version,
// options of every shape (bool, tristate, integer, string), a `__weak` one
// no kernel has, and libbpf's computed `LINUX_HAS_SYSCALL_WRAPPER`. The
// program copies each into `out` (iu/tests/libbpf_objects.rs).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_VETH __kconfig __weak;
extern int CONFIG_HZ __kconfig __weak;
extern char CONFIG_DEFAULT_HOSTNAME[8] __kconfig __weak;
extern bool CONFIG_IU_NO_SUCH_OPTION __kconfig __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} out SEC(".maps");

static void put(__u32 slot, __u64 value)
{
	bpf_map_update_elem(&out, &slot, &value, BPF_ANY);
}

SEC("syscall")
int kconfig_values(void *ctx)
{
	__u64 hostname = 0;

	__builtin_memcpy(&hostname, CONFIG_DEFAULT_HOSTNAME, 8);
	put(0, LINUX_KERNEL_VERSION);
	put(1, CONFIG_BPF_SYSCALL);
	put(2, CONFIG_VETH);
	put(3, CONFIG_HZ);
	put(4, hostname);
	put(5, CONFIG_IU_NO_SUCH_OPTION);
	put(6, LINUX_HAS_SYSCALL_WRAPPER);
	return 0;
}
