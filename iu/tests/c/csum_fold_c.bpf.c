// SPDX-License-Identifier: GPL-2.0
// The C peer of the corpus's `csum_fold` (tests/verifier-gap): the IPv4
// header checksum with its carry fold bounded by `can_loop` (a `may_goto`,
// Linux 6.9), as the kernel's selftests write it. Compared with iu's
// loader-added budgets in `verifier_gap.rs`'s `loop_budget_cost`.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define can_loop                                                     \
	({                                                           \
		__label__ l_break, l_continue;                       \
		bool ret = true;                                     \
		asm volatile goto("may_goto %l[l_break]" :: :: l_break); \
		goto l_continue;                                     \
	l_break:                                                     \
		ret = false;                                         \
	l_continue:;                                                 \
		ret;                                                 \
	})

SEC("xdp")
int csum_fold_c(struct xdp_md *ctx)
{
	unsigned char *p = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 sum = 0;

	if ((void *)(p + 34) > end)
		return XDP_PASS;
	if (p[12] != 0x08 || p[13] != 0x00)
		return XDP_PASS;
	for (int i = 14; i < 34; i += 2)
		sum += (p[i] << 8) | p[i + 1];
	while ((sum >> 16) && can_loop)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff ? XDP_PASS : XDP_DROP;
}
