// CGPIOD over libgpiod 1.x (1.6: Debian 12 bookworm's libgpiod-dev). Lines belong to their chip
// object; a request holds the kernel's line handle until gpiod_line_release.
#if !__has_include(<gpiod.h>)
#error "CGPIOD needs <gpiod.h>: install libgpiod-dev"
#endif
#include <gpiod.h>

#ifdef GPIOD_LINE_BULK_MAX_LINES

#include "CGPIOD.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fa_gpio_chip {
    struct gpiod_chip *chip;
};

struct fa_gpio_line {
    struct gpiod_line *line;
};

const char *fa_gpio_library_version(void) { return gpiod_version_string(); }

int fa_gpio_api_major(void) { return 1; }

fa_gpio_chip *fa_gpio_chip_open(const char *path) {
    fa_gpio_chip *chip = calloc(1, sizeof *chip);
    if (!chip) return NULL;
    chip->chip = gpiod_chip_open(path);
    if (!chip->chip) {
        int saved = errno;
        free(chip);
        errno = saved;
        return NULL;
    }
    return chip;
}

void fa_gpio_chip_close(fa_gpio_chip *chip) {
    gpiod_chip_close(chip->chip);
    free(chip);
}

const char *fa_gpio_chip_name(const fa_gpio_chip *chip) { return gpiod_chip_name(chip->chip); }

const char *fa_gpio_chip_label(const fa_gpio_chip *chip) { return gpiod_chip_label(chip->chip); }

unsigned int fa_gpio_chip_num_lines(const fa_gpio_chip *chip) { return gpiod_chip_num_lines(chip->chip); }

int fa_gpio_chip_find_line(fa_gpio_chip *chip, const char *name) {
    errno = 0;
    struct gpiod_line *line = gpiod_chip_find_line(chip->chip, name);
    if (!line) {
        if (errno == 0) errno = ENOENT;
        return -1;
    }
    return (int)gpiod_line_offset(line);
}

int fa_gpio_chip_line_consumer(fa_gpio_chip *chip, unsigned int offset, char *consumer, size_t size) {
    struct gpiod_line *line = gpiod_chip_get_line(chip->chip, offset);
    if (!line || gpiod_line_update(line) < 0) return -1;
    if (!gpiod_line_is_used(line)) return 0;
    const char *name = gpiod_line_consumer(line);
    snprintf(consumer, size, "%s", name ? name : "");
    return 1;
}

static fa_gpio_line *request(fa_gpio_chip *chip, unsigned int offset, const char *consumer, int type,
                             int flags, int initial) {
    struct gpiod_line *line = gpiod_chip_get_line(chip->chip, offset);
    if (!line) return NULL;
    fa_gpio_line *handle = calloc(1, sizeof *handle);
    if (!handle) return NULL;
    const struct gpiod_line_request_config config = {.consumer = consumer, .request_type = type, .flags = flags};
    if (gpiod_line_request(line, &config, initial) < 0) {
        int saved = errno;
        free(handle);
        errno = saved;
        return NULL;
    }
    handle->line = line;
    return handle;
}

fa_gpio_line *fa_gpio_request_input(fa_gpio_chip *chip, unsigned int offset, const char *consumer,
                                    bool active_low, fa_gpio_bias bias, fa_gpio_edge edge) {
    int type = GPIOD_LINE_REQUEST_DIRECTION_INPUT;
    switch (edge) {
    case FA_GPIO_EDGE_NONE: type = GPIOD_LINE_REQUEST_DIRECTION_INPUT; break;
    case FA_GPIO_EDGE_RISING: type = GPIOD_LINE_REQUEST_EVENT_RISING_EDGE; break;
    case FA_GPIO_EDGE_FALLING: type = GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE; break;
    case FA_GPIO_EDGE_BOTH: type = GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES; break;
    default: errno = EINVAL; return NULL;
    }
    int flags = active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    switch (bias) {
    case FA_GPIO_BIAS_AS_IS: break;
    case FA_GPIO_BIAS_DISABLED: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE; break;
    case FA_GPIO_BIAS_PULL_UP: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP; break;
    case FA_GPIO_BIAS_PULL_DOWN: flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN; break;
    default: errno = EINVAL; return NULL;
    }
    return request(chip, offset, consumer, type, flags, 0);
}

fa_gpio_line *fa_gpio_request_output(fa_gpio_chip *chip, unsigned int offset, const char *consumer,
                                     bool active_low, bool initial) {
    return request(chip, offset, consumer, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT,
                   active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0, initial ? 1 : 0);
}

int fa_gpio_line_get(fa_gpio_line *line) { return gpiod_line_get_value(line->line); }

int fa_gpio_line_set(fa_gpio_line *line, bool value) { return gpiod_line_set_value(line->line, value ? 1 : 0); }

int fa_gpio_line_fd(fa_gpio_line *line) { return gpiod_line_event_get_fd(line->line); }

int fa_gpio_line_wait(fa_gpio_line *line, int64_t timeout_ns) {
    if (timeout_ns < 0) return gpiod_line_event_wait(line->line, NULL);
    const struct timespec timeout = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
    return gpiod_line_event_wait(line->line, &timeout);
}

int fa_gpio_line_read_events(fa_gpio_line *line, fa_gpio_event *events, unsigned int max) {
    struct gpiod_line_event raw[FA_GPIO_EVENT_BATCH];
    if (max > FA_GPIO_EVENT_BATCH) max = FA_GPIO_EVENT_BATCH;
    int count = gpiod_line_event_read_multiple(line->line, raw, max);
    for (int i = 0; i < count; i++) {
        events[i].timestamp_ns = (uint64_t)raw[i].ts.tv_sec * 1000000000u + (uint64_t)raw[i].ts.tv_nsec;
        events[i].rising = raw[i].event_type == GPIOD_LINE_EVENT_RISING_EDGE;
    }
    return count;
}

void fa_gpio_line_release(fa_gpio_line *line) {
    gpiod_line_release(line->line);
    free(line);
}

#endif
