// CGPIOD over libgpiod 2.x (2.2: Debian 13 trixie's libgpiod-dev). A request is its own object
// with its own descriptor; the chip object is only used to open requests and read line info.
#if !__has_include(<gpiod.h>)
#error "CGPIOD needs <gpiod.h>: install libgpiod-dev"
#endif
#include <gpiod.h>

#ifndef GPIOD_LINE_BULK_MAX_LINES

#include "CGPIOD.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fa_gpio_chip {
    struct gpiod_chip *chip;
    // Copied from gpiod_chip_info at open (the kernel's limit is 32 bytes each).
    char name[64];
    char label[64];
    unsigned int num_lines;
};

struct fa_gpio_line {
    struct gpiod_line_request *request;
    unsigned int offset;
    struct gpiod_edge_event_buffer *events;  // NULL for outputs and inputs without edges
};

const char *fa_gpio_library_version(void) { return gpiod_api_version(); }

int fa_gpio_api_major(void) { return 2; }

fa_gpio_chip *fa_gpio_chip_open(const char *path) {
    fa_gpio_chip *chip = calloc(1, sizeof *chip);
    if (!chip) return NULL;
    struct gpiod_chip_info *info = NULL;
    chip->chip = gpiod_chip_open(path);
    if (chip->chip) info = gpiod_chip_get_info(chip->chip);
    if (!info) {
        int saved = errno;
        if (chip->chip) gpiod_chip_close(chip->chip);
        free(chip);
        errno = saved;
        return NULL;
    }
    snprintf(chip->name, sizeof chip->name, "%s", gpiod_chip_info_get_name(info));
    snprintf(chip->label, sizeof chip->label, "%s", gpiod_chip_info_get_label(info));
    chip->num_lines = (unsigned int)gpiod_chip_info_get_num_lines(info);
    gpiod_chip_info_free(info);
    return chip;
}

void fa_gpio_chip_close(fa_gpio_chip *chip) {
    gpiod_chip_close(chip->chip);
    free(chip);
}

const char *fa_gpio_chip_name(const fa_gpio_chip *chip) { return chip->name; }

const char *fa_gpio_chip_label(const fa_gpio_chip *chip) { return chip->label; }

unsigned int fa_gpio_chip_num_lines(const fa_gpio_chip *chip) { return chip->num_lines; }

int fa_gpio_chip_find_line(fa_gpio_chip *chip, const char *name) {
    return gpiod_chip_get_line_offset_from_name(chip->chip, name);
}

int fa_gpio_chip_line_consumer(fa_gpio_chip *chip, unsigned int offset, char *consumer, size_t size) {
    struct gpiod_line_info *info = gpiod_chip_get_line_info(chip->chip, offset);
    if (!info) return -1;
    int used = gpiod_line_info_is_used(info) ? 1 : 0;
    if (used) {
        const char *name = gpiod_line_info_get_consumer(info);
        snprintf(consumer, size, "%s", name ? name : "");
    }
    gpiod_line_info_free(info);
    return used;
}

/// Requests one line with `settings` (consumed; the configs are freed). NULL + errno.
static fa_gpio_line *request(fa_gpio_chip *chip, unsigned int offset, const char *consumer,
                             struct gpiod_line_settings *settings, bool events) {
    struct gpiod_line_config *line_config = gpiod_line_config_new();
    struct gpiod_request_config *request_config = gpiod_request_config_new();
    fa_gpio_line *line = calloc(1, sizeof *line);
    bool failed = !line_config || !request_config || !line
        || (events && !(line->events = gpiod_edge_event_buffer_new(FA_GPIO_EVENT_BATCH)))
        || gpiod_line_config_add_line_settings(line_config, &offset, 1, settings) < 0;
    if (!failed) {
        gpiod_request_config_set_consumer(request_config, consumer);
        line->offset = offset;
        line->request = gpiod_chip_request_lines(chip->chip, request_config, line_config);
        failed = !line->request;
    }
    int saved = errno;
    if (failed && line) {
        gpiod_edge_event_buffer_free(line->events);
        free(line);
        line = NULL;
    }
    gpiod_request_config_free(request_config);
    gpiod_line_config_free(line_config);
    gpiod_line_settings_free(settings);
    errno = saved;
    return line;
}

fa_gpio_line *fa_gpio_request_input(fa_gpio_chip *chip, unsigned int offset, const char *consumer,
                                    bool active_low, fa_gpio_bias bias, fa_gpio_edge edge) {
    enum gpiod_line_edge detection;
    switch (edge) {
    case FA_GPIO_EDGE_NONE: detection = GPIOD_LINE_EDGE_NONE; break;
    case FA_GPIO_EDGE_RISING: detection = GPIOD_LINE_EDGE_RISING; break;
    case FA_GPIO_EDGE_FALLING: detection = GPIOD_LINE_EDGE_FALLING; break;
    case FA_GPIO_EDGE_BOTH: detection = GPIOD_LINE_EDGE_BOTH; break;
    default: errno = EINVAL; return NULL;
    }
    enum gpiod_line_bias pull;
    switch (bias) {
    case FA_GPIO_BIAS_AS_IS: pull = GPIOD_LINE_BIAS_AS_IS; break;
    case FA_GPIO_BIAS_DISABLED: pull = GPIOD_LINE_BIAS_DISABLED; break;
    case FA_GPIO_BIAS_PULL_UP: pull = GPIOD_LINE_BIAS_PULL_UP; break;
    case FA_GPIO_BIAS_PULL_DOWN: pull = GPIOD_LINE_BIAS_PULL_DOWN; break;
    default: errno = EINVAL; return NULL;
    }
    struct gpiod_line_settings *settings = gpiod_line_settings_new();
    if (!settings) return NULL;
    gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT);
    gpiod_line_settings_set_edge_detection(settings, detection);
    gpiod_line_settings_set_bias(settings, pull);
    gpiod_line_settings_set_active_low(settings, active_low);
    // The clock uAPI v1 stamped with, and the one HALLinux compares against.
    gpiod_line_settings_set_event_clock(settings, GPIOD_LINE_CLOCK_MONOTONIC);
    return request(chip, offset, consumer, settings, edge != FA_GPIO_EDGE_NONE);
}

fa_gpio_line *fa_gpio_request_output(fa_gpio_chip *chip, unsigned int offset, const char *consumer,
                                     bool active_low, bool initial) {
    struct gpiod_line_settings *settings = gpiod_line_settings_new();
    if (!settings) return NULL;
    gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT);
    gpiod_line_settings_set_active_low(settings, active_low);
    gpiod_line_settings_set_output_value(settings, initial ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
    return request(chip, offset, consumer, settings, false);
}

int fa_gpio_line_get(fa_gpio_line *line) {
    enum gpiod_line_value value = gpiod_line_request_get_value(line->request, line->offset);
    return value == GPIOD_LINE_VALUE_ERROR ? -1 : value == GPIOD_LINE_VALUE_ACTIVE;
}

int fa_gpio_line_set(fa_gpio_line *line, bool value) {
    return gpiod_line_request_set_value(line->request, line->offset,
                                        value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
}

int fa_gpio_line_fd(fa_gpio_line *line) { return gpiod_line_request_get_fd(line->request); }

int fa_gpio_line_wait(fa_gpio_line *line, int64_t timeout_ns) {
    return gpiod_line_request_wait_edge_events(line->request, timeout_ns);
}

int fa_gpio_line_read_events(fa_gpio_line *line, fa_gpio_event *events, unsigned int max) {
    if (!line->events) {
        errno = EINVAL;  // not requested with edge detection
        return -1;
    }
    if (max > FA_GPIO_EVENT_BATCH) max = FA_GPIO_EVENT_BATCH;
    int count = gpiod_line_request_read_edge_events(line->request, line->events, max);
    for (int i = 0; i < count; i++) {
        struct gpiod_edge_event *event = gpiod_edge_event_buffer_get_event(line->events, (unsigned long)i);
        events[i].timestamp_ns = gpiod_edge_event_get_timestamp_ns(event);
        events[i].rising = gpiod_edge_event_get_event_type(event) == GPIOD_EDGE_EVENT_RISING_EDGE;
    }
    return count;
}

void fa_gpio_line_release(fa_gpio_line *line) {
    gpiod_line_request_release(line->request);
    gpiod_edge_event_buffer_free(line->events);
    free(line);
}

#endif
