#ifndef FIELDAGENT_CKERNELCLOCK_H
#define FIELDAGENT_CKERNELCLOCK_H

/// What the kernel says about the system clock's synchronisation (adjtimex with no changes,
/// which needs no privilege). Linux only; elsewhere the call fails with ENOSYS.
typedef struct {
    /// adjtimex's result: TIME_OK (0) … TIME_ERROR (5, the clock is not synchronised).
    int state;
    /// The STA_* bits (STA_UNSYNC is 0x0040).
    int status;
    /// Maximum error, microseconds.
    long maximum_error_us;
    /// Estimated error, microseconds.
    long estimated_error_us;
} fieldagent_kernel_clock;

/// STA_UNSYNC, so callers need not include <sys/timex.h>.
extern const int fieldagent_sta_unsync;
/// TIME_ERROR.
extern const int fieldagent_time_error;

/// Fills `out`; returns 0, or -1 with errno set.
int fieldagent_kernel_clock_read(fieldagent_kernel_clock *out);

#endif
