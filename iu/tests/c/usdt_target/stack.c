// Built with -O0: the probes' arguments are read from the stack.
#include <stdint.h>
#include <sys/sdt.h>

void fire_stack(int i) {
    int8_t a = (int8_t)(-3 - i);
    uint8_t b = 250;
    int16_t c = -300;
    uint16_t d = 60000;
    int32_t e = -70000;
    int64_t f = -5000000000LL - i;
    STAP_PROBE6(iu_test, stack, a, b, c, d, e, f);
    // A second site of iu_test:twice, with another spec.
    STAP_PROBE1(iu_test, twice, f);
}
