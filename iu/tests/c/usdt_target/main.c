// The target of iu/tests/usdt.rs: USDT probes of several argument shapes.
// Built by `cargo xtask build` (gcc, with Debian's systemtap-sdt-dev) into
// the object directory as `usdt_target`. Usage: usdt_target [rounds [wait]]:
// with `wait`, it reads a line from stdin before the first round.
//
// This file is built with -O2, so its probes' arguments are registers and
// constants; stack.c is built with -O0 (arguments in memory, `-20(%rbp)`);
// guarded.c has a semaphore.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>

void fire_stack(int i);
int fire_guarded(int i);

// Read once per round, so that the compiler cannot fold the arguments.
volatile int64_t iu_seed = 1;
// A global: its probe's argument is `iu_global(%rip)`, which iu resolves
// through the symbol table (and refuses in the stripped copy).
int iu_global = 7;

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 3;
    int guarded = 0;
    if (argc > 2) {
        char line[16];
        if (!fgets(line, sizeof(line), stdin))
            return 1;
    }
    for (int i = 0; i < rounds; i++) {
        int64_t s = iu_seed;
        int8_t a = (int8_t)(-1 - i * s);
        uint16_t b = (uint16_t)(65535 - i * s);
        int32_t c = (int32_t)(-100000 * (i + 1) * s);
        int64_t d = -(1LL << 40) - i * s;
        uint64_t e = 0xfedcba9876543210ULL + (uint64_t)(i * s);
        STAP_PROBE5(iu_test, regs, a, b, c, d, e);
        STAP_PROBE3(iu_test, consts, 5, -7, 123456789012LL);
        STAP_PROBE1(iu_test, twice, d);
        fire_stack(i);
        guarded += fire_guarded(i);
    }
    STAP_PROBE1(iu_test, global, iu_global);
    printf("guarded %d\n", guarded);
    return 0;
}
