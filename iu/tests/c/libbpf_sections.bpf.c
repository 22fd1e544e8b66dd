// SPDX-License-Identifier: GPL-2.0
// Section names as libbpf 1.x writes them: `tc` for a classifier, the
// TCX forms, and `?` for a program whose autoload is off
// (iu/tests/libbpf_objects.rs).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tc")
int tc_plain(struct __sk_buff *skb)
{
	return skb->len > 0 ? 0 : 2;
}

SEC("tc/ingress")
int tcx_ingress(struct __sk_buff *skb)
{
	return 0;
}

SEC("?xdp")
int xdp_off(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("?raw_tp/sys_enter")
int raw_tp_off(void *ctx)
{
	return 0;
}
