// CGPIOD: one small GPIO API for HALLinux over libgpiod 1.6 (uAPI v1 era, libgpiod.so.2) and
// libgpiod 2.x (libgpiod.so.3), which share no line-request functions.
//
// Which implementation is compiled is decided by <gpiod.h> alone: libgpiod 1.x defines
// GPIOD_LINE_BULK_MAX_LINES, 2.x does not (gpiod-v1.c and gpiod-v2.c each compile to nothing for
// the other version). This header does not include <gpiod.h>, so Swift sees the same functions
// whichever library the package is built against. Every function that fails returns NULL or -1
// with errno set by libgpiod or the kernel (EBUSY, EACCES, ENOENT…), never a private code.
#ifndef CGPIOD_H
#define CGPIOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/// An open GPIO chip (`/dev/gpiochipN`).
typedef struct fa_gpio_chip fa_gpio_chip;
/// One requested line: the request is held until `fa_gpio_line_release`.
typedef struct fa_gpio_line fa_gpio_line;

/// Pull resistor of an input. `AS_IS` leaves it as the firmware or device tree set it.
typedef enum {
    FA_GPIO_BIAS_AS_IS = 0,
    FA_GPIO_BIAS_DISABLED = 1,
    FA_GPIO_BIAS_PULL_UP = 2,
    FA_GPIO_BIAS_PULL_DOWN = 3,
} fa_gpio_bias;

/// Edges an input reports as events (logical edges: active-low swaps rising and falling).
typedef enum {
    FA_GPIO_EDGE_NONE = 0,
    FA_GPIO_EDGE_RISING = 1,
    FA_GPIO_EDGE_FALLING = 2,
    FA_GPIO_EDGE_BOTH = 3,
} fa_gpio_edge;

/// One edge event: its kind and the kernel's CLOCK_MONOTONIC timestamp.
typedef struct {
    uint64_t timestamp_ns;
    bool rising;
} fa_gpio_event;

/// Events one `fa_gpio_line_read_events` call returns at most.
enum { FA_GPIO_EVENT_BATCH = 16 };

/// The version of the libgpiod loaded at run time, as it reports it: "1.6.3" (gpiod_version_string)
/// or "2.2.1" (gpiod_api_version).
const char *fa_gpio_library_version(void);
/// The major API version compiled in: 1 or 2.
int fa_gpio_api_major(void);

/// Opens the chip at `path` (`/dev/gpiochip0`). NULL + errno (ENOENT; ENOTTY or ENODEV when the
/// path is not a GPIO chip; EACCES).
fa_gpio_chip *fa_gpio_chip_open(const char *path);
void fa_gpio_chip_close(fa_gpio_chip *chip);
/// The kernel's name (`gpiochip0`) and the driver's label (`pinctrl-rp1`), valid while the chip is open.
const char *fa_gpio_chip_name(const fa_gpio_chip *chip);
const char *fa_gpio_chip_label(const fa_gpio_chip *chip);
unsigned int fa_gpio_chip_num_lines(const fa_gpio_chip *chip);
/// The offset of the line named `name`, or -1 with errno ENOENT when there is none.
int fa_gpio_chip_find_line(fa_gpio_chip *chip, const char *name);
/// Whether line `offset` is in use now (1, its consumer copied into `consumer`, "" when it has
/// none), free (0), or -1 + errno.
int fa_gpio_chip_line_consumer(fa_gpio_chip *chip, unsigned int offset, char *consumer, size_t size);

/// Requests line `offset` as an input. NULL + errno (EBUSY: held by another consumer).
fa_gpio_line *fa_gpio_request_input(fa_gpio_chip *chip, unsigned int offset, const char *consumer,
                                    bool active_low, fa_gpio_bias bias, fa_gpio_edge edge);
/// Requests line `offset` as an output driving logical `initial`. NULL + errno.
fa_gpio_line *fa_gpio_request_output(fa_gpio_chip *chip, unsigned int offset, const char *consumer,
                                     bool active_low, bool initial);
/// The logical value (0 or 1), or -1 + errno.
int fa_gpio_line_get(fa_gpio_line *line);
/// Drives logical `value`: 0, or -1 + errno.
int fa_gpio_line_set(fa_gpio_line *line, bool value);
/// The descriptor that becomes readable when edge events are queued (for poll).
int fa_gpio_line_fd(fa_gpio_line *line);
/// Waits up to `timeout_ns` (negative: no limit) for an edge event: 1 queued, 0 timed out, -1 + errno
/// (EINTR when a signal interrupted the wait).
int fa_gpio_line_wait(fa_gpio_line *line, int64_t timeout_ns);
/// Reads up to `max` (at most FA_GPIO_EVENT_BATCH) queued events, blocking when none is queued:
/// the number read, or -1 + errno.
int fa_gpio_line_read_events(fa_gpio_line *line, fa_gpio_event *events, unsigned int max);
/// Releases the request and frees `line`.
void fa_gpio_line_release(fa_gpio_line *line);

#endif
