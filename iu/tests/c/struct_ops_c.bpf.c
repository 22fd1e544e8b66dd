// SPDX-License-Identifier: GPL-2.0
// A TCP congestion control in C as libbpf objects write it: variables of
// `struct tcp_congestion_ops` in `.struct_ops.link` (registered through a
// link) and `.struct_ops` (through the map update), whose callbacks are
// programs in `struct_ops` sections. It is Reno, through the kernel's own
// kfuncs, and each callback counts its calls in `calls`
// (iu/tests/struct_ops_c.rs).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

extern void tcp_reno_cong_avoid(struct sock *sk, __u32 ack, __u32 acked) __ksym;
extern __u32 tcp_reno_ssthresh(struct sock *sk) __ksym;
extern __u32 tcp_reno_undo_cwnd(struct sock *sk) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

enum { INIT, CONG_AVOID, SSTHRESH, UNDO_CWND };

static void count(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&calls, &slot);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("struct_ops")
void BPF_PROG(iu_c_init, struct sock *sk)
{
	count(INIT);
}

SEC("struct_ops")
void BPF_PROG(iu_c_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	count(CONG_AVOID);
	tcp_reno_cong_avoid(sk, ack, acked);
}

SEC("struct_ops")
__u32 BPF_PROG(iu_c_ssthresh, struct sock *sk)
{
	count(SSTHRESH);
	return tcp_reno_ssthresh(sk);
}

SEC("struct_ops")
__u32 BPF_PROG(iu_c_undo_cwnd, struct sock *sk)
{
	count(UNDO_CWND);
	return tcp_reno_undo_cwnd(sk);
}

SEC(".struct_ops.link")
struct tcp_congestion_ops iu_c_reno = {
	.init = (void *)iu_c_init,
	.cong_avoid = (void *)iu_c_cong_avoid,
	.ssthresh = (void *)iu_c_ssthresh,
	.undo_cwnd = (void *)iu_c_undo_cwnd,
	.name = "iu_c_reno",
};

// The same callbacks, registered without a link, under another name.
SEC(".struct_ops")
struct tcp_congestion_ops iu_c_reno_map = {
	.cong_avoid = (void *)iu_c_cong_avoid,
	.ssthresh = (void *)iu_c_ssthresh,
	.undo_cwnd = (void *)iu_c_undo_cwnd,
	.name = "iu_c_reno_map",
};
