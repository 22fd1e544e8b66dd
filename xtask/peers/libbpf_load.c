// C peer of iu's load benchmark: open + load + attach + detach + close of one
// object with libbpf, repeated. Prints one line of key=value results in
// microseconds. Built and run by `cargo xtask bench`.
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

static int silent(enum libbpf_print_level level, const char *fmt, va_list args) {
	(void)level; (void)fmt; (void)args;
	return 0;
}

static double now_us(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

// User + system CPU time of the process (the verifier runs in the
// process's system time).
static double cpu_us(void) {
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

// Times open + load + attach (wall and CPU); detach and close are not
// timed, since the kernel waits for an RCU grace period there.
static int once(const char *path, const char *name, double *wall, double *cpu) {
	double w0 = now_us(), c0 = cpu_us();
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj) return -1;
	if (bpf_object__load(obj)) { bpf_object__close(obj); return -2; }
	// "-": every program and map loaded, none attached.
	if (!strcmp(name, "-")) {
		*wall = now_us() - w0;
		*cpu = cpu_us() - c0;
		bpf_object__close(obj);
		return 0;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, name);
	if (!prog) { bpf_object__close(obj); return -3; }
	struct bpf_link *link = bpf_program__attach(prog);
	if (!link) { bpf_object__close(obj); return -4; }
	*wall = now_us() - w0;
	*cpu = cpu_us() - c0;
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: %s OBJECT PROGRAM ITERATIONS\n", argv[0]);
		return 2;
	}
	int n = atoi(argv[3]);
	if (n < 1) return 2;
	libbpf_set_print(silent);
	double cold, cold_cpu, *wall = calloc(n, sizeof(double)), *cpu = calloc(n, sizeof(double));
	int err = once(argv[1], argv[2], &cold, &cold_cpu);
	if (err) { fprintf(stderr, "libbpf: load failed (%d)\n", err); return 1; }
	double wall_sum = 0, cpu_sum = 0;
	for (int i = 0; i < n; i++) {
		if (once(argv[1], argv[2], &wall[i], &cpu[i])) { fprintf(stderr, "libbpf: load failed\n"); return 1; }
		wall_sum += wall[i];
		cpu_sum += cpu[i];
	}
	qsort(wall, n, sizeof(double), cmp);
	qsort(cpu, n, sizeof(double), cmp);
	printf("cold_us=%.1f median_us=%.1f mean_us=%.1f p90_us=%.1f cpu_median_us=%.1f cpu_mean_us=%.1f\n",
	       cold, wall[n / 2], wall_sum / n, wall[n * 9 / 10], cpu[n / 2], cpu_sum / n);
	return 0;
}
