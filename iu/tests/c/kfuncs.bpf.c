// SPDX-License-Identifier: GPL-2.0
// Kernel functions called from C as libbpf objects do: `__ksym` kfuncs
// (the open-coded number iterator, Linux 6.4) resolved to their BTF ids,
// and a `__weak` one no kernel has, whose call is left out behind the
// existence test (iu/tests/libbpf_objects.rs).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;
extern void iu_no_such_kfunc(void) __ksym __weak;

SEC("xdp")
int kfunc_iter(struct xdp_md *ctx)
{
	struct bpf_iter_num it;
	int *v, sum = 0;

	if (iu_no_such_kfunc)
		iu_no_such_kfunc();
	bpf_iter_num_new(&it, 0, 10);
	while ((v = bpf_iter_num_next(&it)))
		sum += *v;
	bpf_iter_num_destroy(&it);
	return sum == 45 ? XDP_PASS : XDP_DROP;
}
