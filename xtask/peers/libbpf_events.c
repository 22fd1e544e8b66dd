// C peer of iu's events benchmark: consumes the 64-byte records that
// `bench_events` (iu/tests/programs/src/bin/bench_events.rs) writes on
// every getppid() of a producer process, with libbpf's ring_buffer__poll
// (MODE ring) or perf_buffer__poll (MODE perf, 1024 pages per CPU, woken on
// every record; MODE perf64, the same through perf_buffer__new_raw with
// wakeup_events 64). MODE ring-drain waits for the producer to exit and
// then times one ring_buffer__consume of everything.
//
// It pins itself to CONSUMER_CPU, starts PRODUCER (events_producer.c) on
// PRODUCER_CPU, sets it as the program's filter, attaches the program and
// sends the producer its "go". It then consumes until every record is
// accounted for, checks that per-CPU sequence numbers only increase, and
// prints one line of key=value results: records delivered and lost (the
// program's own count of records that found no room, and for perf the
// PERF_RECORD_LOST total), wall time from "go" to the last record, and its
// own CPU time (user + system) over the same span. Built and run by
// `cargo xtask bench`.
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define MAX_CPUS 1024

struct record {
	uint64_t seq;
	uint32_t cpu;
	uint32_t pid;
	uint64_t payload[6];
};

struct state {
	uint64_t delivered, perf_lost, disorder, bad;
	uint64_t last_seq[MAX_CPUS];
};

static int silent(enum libbpf_print_level level, const char *fmt, va_list args) {
	(void)level; (void)fmt; (void)args;
	return 0;
}

static double now_s(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_s(int who) {
	struct rusage u;
	getrusage(who, &u);
	return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

static void check(struct state *s, const void *data, size_t size) {
	if (size < sizeof(struct record)) { s->bad++; return; }
	const struct record *r = data;
	if (r->cpu >= MAX_CPUS || r->payload[5] != r->seq) { s->bad++; return; }
	if (r->seq <= s->last_seq[r->cpu]) s->disorder++;
	s->last_seq[r->cpu] = r->seq;
	s->delivered++;
}

static int on_ring(void *ctx, void *data, size_t size) {
	check(ctx, data, size);
	return 0;
}

static void on_sample(void *ctx, int cpu, void *data, __u32 size) {
	(void)cpu;
	check(ctx, data, size);
}

static void on_lost(void *ctx, int cpu, __u64 count) {
	(void)cpu;
	((struct state *)ctx)->perf_lost += count;
}

// perf_buffer__new_raw's callback: a sample is the header, a u32 size and
// the data; a loss is the header, an id and the count.
static enum bpf_perf_event_ret on_raw(void *ctx, int cpu, struct perf_event_header *event) {
	if (event->type == PERF_RECORD_SAMPLE) {
		uint32_t size;
		memcpy(&size, event + 1, sizeof(size));
		on_sample(ctx, cpu, (char *)(event + 1) + sizeof(size), size);
	} else if (event->type == PERF_RECORD_LOST) {
		uint64_t lost[2];
		memcpy(lost, event + 1, sizeof(lost));
		on_lost(ctx, cpu, lost[1]);
	}
	return LIBBPF_PERF_EVENT_CONT;
}

static void pin(int cpu) {
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

int main(int argc, char **argv) {
	if (argc != 8) {
		fprintf(stderr, "usage: %s OBJECT ring|ring-drain|perf|perf64 PRODUCER CALLS BATCH CONSUMER_CPU PRODUCER_CPU\n", argv[0]);
		return 2;
	}
	const char *path = argv[1], *mode = argv[2], *producer = argv[3];
	long calls = atol(argv[4]);
	uint32_t batch = atoi(argv[5]);
	int drain = strcmp(mode, "ring-drain") == 0, perf64 = strcmp(mode, "perf64") == 0;
	int ring = drain || strcmp(mode, "ring") == 0;
	if (!ring && !perf64 && strcmp(mode, "perf") != 0) { fprintf(stderr, "bad mode %s\n", mode); return 2; }
	pin(atoi(argv[6]));
	libbpf_set_print(silent);

	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj || bpf_object__load(obj)) { fprintf(stderr, "libbpf: cannot load %s\n", path); return 1; }
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, ring ? "ring_producer" : "perf_producer");
	int config = bpf_object__find_map_fd_by_name(obj, "CONFIG");
	int stats = bpf_object__find_map_fd_by_name(obj, "STATS");
	int events = bpf_object__find_map_fd_by_name(obj, ring ? "RING" : "PERF");
	if (!prog || config < 0 || stats < 0 || events < 0) { fprintf(stderr, "libbpf: missing program or map\n"); return 1; }

	static struct state s;
	struct ring_buffer *rb = NULL;
	struct perf_buffer *pb = NULL;
	if (ring) {
		rb = ring_buffer__new(events, on_ring, &s, NULL);
	} else if (perf64) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.config = PERF_COUNT_SW_BPF_OUTPUT,
			.sample_type = PERF_SAMPLE_RAW,
			.sample_period = 1,
			.wakeup_events = 64,
		};
		pb = perf_buffer__new_raw(events, 1024, &attr, on_raw, &s, NULL);
	} else {
		pb = perf_buffer__new(events, 1024, on_sample, on_lost, &s, NULL);
	}
	if (!rb && !pb) { fprintf(stderr, "libbpf: cannot open the %s buffer: %s\n", mode, strerror(errno)); return 1; }

	int go[2];
	if (pipe(go)) return 1;
	pid_t child = fork();
	if (child == 0) {
		dup2(go[0], 0);
		close(go[1]);
		execl(producer, producer, argv[7], argv[4], (char *)NULL);
		_exit(127);
	}
	close(go[0]);
	uint32_t key = 0, pid = child;
	bpf_map_update_elem(config, &key, &pid, BPF_ANY);
	key = 1;
	bpf_map_update_elem(config, &key, &batch, BPF_ANY);
	struct bpf_link *link = bpf_program__attach(prog);
	if (!link) { fprintf(stderr, "libbpf: cannot attach\n"); kill(child, 9); return 1; }

	uint64_t expected = (uint64_t)calls * batch;
	double c0 = cpu_s(RUSAGE_SELF), t0 = now_s(), t_last = t0;
	if (write(go[1], "g", 1) != 1) return 1;
	int exited = 0, status = 0;
	if (drain) {
		waitpid(child, &status, 0);
		exited = 1;
		c0 = cpu_s(RUSAGE_SELF);
		t0 = now_s();
		if (ring_buffer__consume(rb) < 0) { fprintf(stderr, "libbpf: consume failed\n"); return 1; }
		t_last = now_s();
	}
	while (!drain) {
		int n = ring ? ring_buffer__poll(rb, 100) : perf_buffer__poll(pb, 100);
		if (n < 0 && n != -EINTR) { fprintf(stderr, "libbpf: poll failed: %d\n", n); return 1; }
		if (n > 0) t_last = now_s();
		if (s.delivered >= expected) break;
		// Records were lost (or the producer died): once it has exited,
		// everything it wrote is committed; take the rest and stop.
		if (n == 0 && waitpid(child, &status, WNOHANG) == child) {
			exited = 1;
			if ((ring ? ring_buffer__consume(rb) : perf_buffer__consume(pb)) > 0) t_last = now_s();
			break;
		}
	}
	double cpu = cpu_s(RUSAGE_SELF) - c0, wall = t_last - t0;
	if (!exited) waitpid(child, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { fprintf(stderr, "producer failed (%d)\n", status); return 1; }
	double producer_cpu = cpu_s(RUSAGE_CHILDREN);

	int ncpus = libbpf_num_possible_cpus();
	uint64_t *values = calloc(ncpus, sizeof(uint64_t)), attempted = 0, nospace = 0;
	for (uint32_t slot = 0; slot < 2; slot++) {
		if (bpf_map_lookup_elem(stats, &slot, values)) return 1;
		for (int c = 0; c < ncpus; c++) *(slot ? &nospace : &attempted) += values[c];
	}
	printf("attempted=%llu delivered=%llu lost=%llu perf_lost=%llu disorder=%llu bad=%llu "
	       "wall_s=%.6f events_per_s=%.0f cpu_s=%.6f cpu_ms_per_m=%.2f producer_cpu_s=%.6f\n",
	       (unsigned long long)attempted, (unsigned long long)s.delivered, (unsigned long long)nospace,
	       (unsigned long long)s.perf_lost, (unsigned long long)s.disorder, (unsigned long long)s.bad,
	       wall, s.delivered / wall, cpu, cpu * 1e3 / (s.delivered / 1e6), producer_cpu);
	bpf_link__destroy(link);
	ring_buffer__free(rb);
	perf_buffer__free(pb);
	bpf_object__close(obj);
	return 0;
}
