#include "CKernelClock.h"
#include <errno.h>
#include <string.h>
#ifdef __linux__
#include <sys/timex.h>
const int fieldagent_sta_unsync = STA_UNSYNC;
const int fieldagent_time_error = TIME_ERROR;
#else
const int fieldagent_sta_unsync = 0x0040;
const int fieldagent_time_error = 5;
#endif

int fieldagent_kernel_clock_read(fieldagent_kernel_clock *out) {
#ifdef __linux__
    struct timex tx;
    memset(&tx, 0, sizeof tx);  /* modes 0: read only */
    int state = adjtimex(&tx);
    if (state < 0) return -1;
    out->state = state;
    out->status = tx.status;
    out->maximum_error_us = tx.maxerror;
    out->estimated_error_us = tx.esterror;
    return 0;
#else
    (void)out;
    errno = ENOSYS;
    return -1;
#endif
}
