// The libbpf side of `cargo xtask compat`: opens and loads one object with
// default options (nothing attached), as `iu-loader load` does with iu.
// Prints "loaded N programs, M maps" and exits 0, or prints libbpf's error
// and exits 1. Maps pinned by name (`LIBBPF_PIN_BY_NAME`) are pinned under
// PIN_ROOT. Built against the libbpf of the same kernel tree as the
// objects.
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args) {
	// Keep warnings and errors: the last lines say why a load failed.
	if (level == LIBBPF_DEBUG) return 0;
	return vfprintf(stderr, fmt, args);
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: %s OBJECT PIN_ROOT\n", argv[0]);
		return 2;
	}
	libbpf_set_print(quiet);
	// Maps pinned by name go under PIN_ROOT, which the caller removes,
	// not into /sys/fs/bpf itself.
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = argv[2]);
	struct bpf_object *obj = bpf_object__open_file(argv[1], &opts);
	long err = libbpf_get_error(obj);
	if (err) {
		fprintf(stderr, "open: %s\n", strerror(-err));
		return 1;
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "load: %s\n", strerror(-err));
		bpf_object__close(obj);
		return 1;
	}
	int programs = 0, maps = 0;
	struct bpf_program *prog;
	struct bpf_map *map;
	bpf_object__for_each_program(prog, obj) programs += bpf_program__fd(prog) >= 0;
	bpf_object__for_each_map(map, obj) maps += bpf_map__fd(map) >= 0;
	printf("loaded %d programs, %d maps\n", programs, maps);
	bpf_object__close(obj);
	return 0;
}
