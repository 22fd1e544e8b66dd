// C peer of iu's map benchmark (`iu/benches/maps.rs`), on a hash map of N
// entries, u32 key i, u64 value i * 0x9E3779B97F4A7C15:
//   1. creates the map and times filling it with one bpf_map_update_batch;
//   2. times dumping it with bpf_map_lookup_batch straight into two arrays
//      sized for the whole map (malloc and free included; median of 3),
//      then key by key (get_next_key, then lookup_elem of that key);
//   3. creates a second map and times filling it with bpf_map_update_elem,
//      one entry at a time.
// Every dump is checked (count and checksum). Prints one line of key=value
// results in milliseconds. Built and run by `cargo xtask bench`.
#include <bpf/bpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DUMP_REPEATS 3

static double now_ms(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static __u64 value_of(__u32 key) {
	return (__u64)key * 0x9E3779B97F4A7C15ULL;
}

static __u64 checksum(const __u32 *keys, const __u64 *values, __u32 n) {
	__u64 sum = 0;
	for (__u32 i = 0; i < n; i++) sum += (__u64)keys[i] * 3 + values[i];
	return sum;
}

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int new_map(__u32 n) {
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "c_bench", sizeof(__u32), sizeof(__u64), n, NULL);
	if (fd < 0) perror("bpf_map_create");
	return fd;
}

static double minflt(void) {
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return u.ru_minflt;
}

// Reads the whole map with bpf_map_lookup_batch, at most `chunk` entries per
// call (0: all that remain, one call), straight into two arrays; returns
// the entry count (or -1) and the checksum in *sum.
static long dump(int fd, __u32 n, __u32 chunk, __u64 *sum) {
	__u32 *keys = malloc(n * sizeof(__u32));
	__u64 *values = malloc(n * sizeof(__u64));
	if (!keys || !values) return -1;
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 total = 0, batch = 0;
	while (total < n) {
		__u32 count = n - total;
		if (chunk && count > chunk) count = chunk;
		int err = bpf_map_lookup_batch(fd, total ? &batch : NULL, &batch, keys + total,
					       values + total, &count, &opts);
		total += count;
		if (err) {
			if (errno == ENOENT) break;
			perror("bpf_map_lookup_batch");
			free(keys);
			free(values);
			return -1;
		}
	}
	*sum = checksum(keys, values, total);
	free(keys);
	free(values);
	return total;
}

// Reads the whole map key by key: bpf_map_get_next_key, then
// bpf_map_lookup_elem of that key at once (as libbpf users and bpftool do).
static long dump_key_by_key(int fd, __u32 n, __u64 *sum) {
	__u32 *keys = malloc(n * sizeof(__u32));
	__u64 *values = malloc(n * sizeof(__u64));
	if (!keys || !values) return -1;
	__u32 total = 0, key, next;
	__u32 *prev = NULL;
	while (total < n && !bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &values[total])) continue;
		keys[total++] = key;
	}
	*sum = checksum(keys, values, total);
	free(keys);
	free(values);
	return total;
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: %s ENTRIES\n", argv[0]);
		return 2;
	}
	long parsed = atol(argv[1]);
	if (parsed < 1 || parsed > UINT32_MAX) return 2;
	__u32 n = parsed;
	__u32 *keys = malloc(n * sizeof(__u32));
	__u64 *values = malloc(n * sizeof(__u64));
	if (!keys || !values) return 1;
	for (__u32 i = 0; i < n; i++) {
		keys[i] = i;
		values[i] = value_of(i);
	}
	__u64 expected = checksum(keys, values, n);

	int fd = new_map(n);
	if (fd < 0) return 1;
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
	__u32 count = n;
	double t0 = now_ms();
	if (bpf_map_update_batch(fd, keys, values, &count, &opts)) {
		perror("bpf_map_update_batch");
		return 1;
	}
	double insert_batch = now_ms() - t0;

	// One call for the whole map, then 4096 and 65536 entries per call.
	__u32 chunks[3] = { 0, 4096, 65536 };
	double dump_ms[3], dump_faults[3];
	for (int c = 0; c < 3; c++) {
		double times[DUMP_REPEATS], faults[DUMP_REPEATS];
		for (int r = 0; r < DUMP_REPEATS; r++) {
			__u64 sum = 0;
			double f0 = minflt();
			t0 = now_ms();
			long got = dump(fd, n, chunks[c], &sum);
			times[r] = now_ms() - t0;
			faults[r] = minflt() - f0;
			if (got != (long)n || sum != expected) {
				fprintf(stderr, "dump: %ld entries, checksum %llx, expected %u, %llx\n",
					got, (unsigned long long)sum, n, (unsigned long long)expected);
				return 1;
			}
		}
		qsort(times, DUMP_REPEATS, sizeof(double), cmp);
		qsort(faults, DUMP_REPEATS, sizeof(double), cmp);
		dump_ms[c] = times[DUMP_REPEATS / 2];
		dump_faults[c] = faults[DUMP_REPEATS / 2];
	}
	__u64 walk_sum = 0;
	double walk_f0 = minflt();
	t0 = now_ms();
	long walked = dump_key_by_key(fd, n, &walk_sum);
	double key_by_key = now_ms() - t0;
	double key_by_key_faults = minflt() - walk_f0;
	if (walked != (long)n || walk_sum != expected) {
		fprintf(stderr, "key-by-key dump: %ld entries, expected %u\n", walked, n);
		return 1;
	}
	close(fd);

	fd = new_map(n);
	if (fd < 0) return 1;
	t0 = now_ms();
	for (__u32 i = 0; i < n; i++) {
		if (bpf_map_update_elem(fd, &keys[i], &values[i], BPF_ANY)) {
			perror("bpf_map_update_elem");
			return 1;
		}
	}
	double insert = now_ms() - t0;
	__u64 sum = 0;
	if (dump(fd, n, 0, &sum) != (long)n || sum != expected) {
		fprintf(stderr, "after insert: wrong contents\n");
		return 1;
	}
	close(fd);

	printf("insert_batch_ms=%.2f dump_batch_ms=%.2f dump_batch_minflt=%.0f dump_chunk_4096_ms=%.2f "
	       "dump_chunk_4096_minflt=%.0f dump_chunk_65536_ms=%.2f dump_chunk_65536_minflt=%.0f "
	       "dump_key_by_key_ms=%.2f dump_key_by_key_minflt=%.0f insert_ms=%.2f entries=%u\n",
	       insert_batch, dump_ms[0], dump_faults[0], dump_ms[1], dump_faults[1], dump_ms[2],
	       dump_faults[2], key_by_key, key_by_key_faults, insert, n);
	free(keys);
	free(values);
	return 0;
}
