// Producer of the events benchmark: pins itself to CPU `CPU`, waits for
// one byte on stdin (the consumer's "go", sent once the consumer has set
// this process's pid as the filter and attached the producer program),
// then calls getppid() `CALLS` times. Each call runs the benchmark's
// tracepoint program, which writes the records. Built and run by
// `cargo xtask bench`; every consumer peer runs this same binary.
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: %s CPU CALLS\n", argv[0]);
		return 2;
	}
	int cpu = atoi(argv[1]);
	long calls = atol(argv[2]);
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("sched_setaffinity");
		return 1;
	}
	char go;
	if (read(0, &go, 1) != 1) return 1;
	// syscall(): glibc's getppid() is a plain system call today, but the
	// loop must not depend on that.
	for (long i = 0; i < calls; i++) syscall(SYS_getppid);
	return 0;
}
