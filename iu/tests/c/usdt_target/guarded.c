// A probe with a semaphore: it fires only while a tracer is attached (the
// kernel increments the semaphore through the uprobe's ref_ctr_offset).
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

unsigned short iu_test_guarded_semaphore __attribute__((unused, section(".probes")));

int fire_guarded(int i) {
    if (iu_test_guarded_semaphore) {
        STAP_PROBE2(iu_test, guarded, i, 42);
        return 1;
    }
    return 0;
}
