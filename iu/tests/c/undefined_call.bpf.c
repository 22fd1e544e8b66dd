// SPDX-License-Identifier: GPL-2.0
// A program that calls a function no object defines (a library routine
// a compiler may emit): iu must refuse it with a typed error naming the
// routine and this C line (iu/tests/undefined_calls.rs).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern int fold_checksum(int sum);

SEC("xdp")
int undefined_call(struct xdp_md *ctx)
{
	int sum = ctx->data_end - ctx->data;
	return fold_checksum(sum) ? XDP_PASS : XDP_DROP; // UNDEFINED-CALL-LINE
}
