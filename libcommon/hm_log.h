/*
 * hm_log.h - one line per event to stderr, level-gated.
 *
 * Line format (key=value, one per event):
 *   ts=2026-11-28T14:00:00.123Z level=info proc=hm-broker event=worker_ready service=auth
 * The event name and the format are the caller's; values that could carry
 * health data, chat text or tokens must never be passed (see STYLE.md).
 * hm_log_safe_str() quotes and escapes an identifier for a key=value line.
 */
#ifndef HM_LOG_H
#define HM_LOG_H

#include <stdarg.h>

typedef enum {
    HM_LOG_ERROR = 0,
    HM_LOG_WARN = 1,
    HM_LOG_INFO = 2,
    HM_LOG_DEBUG = 3,
} hm_log_level_t;

/* Sets the process name printed as proc= and the level; routes czmq's zsys
 * log into hm_log. ident is copied. */
void hm_log_init(const char *ident, hm_log_level_t level);

/* Parses "error", "warn", "info", "debug". Returns the level or -1. */
int hm_log_level_parse(const char *name);

void hm_log_set_level(hm_log_level_t level);
hm_log_level_t hm_log_get_level(void);

/* Logs one event. fmt holds the key=value pairs after event=<event>; may be
 * NULL. Returns nothing; never fails loudly. */
void hm_log(hm_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hm_logv(hm_log_level_t level, const char *event, const char *fmt, va_list ap);

/* Routes a libwebsockets log line (level is lws's LLL_*) into hm_log; pass to
 * lws_set_log_level(). */
void hm_log_lws_emit(int lws_level, const char *line);

#define hm_log_error(ev, ...) hm_log(HM_LOG_ERROR, ev, __VA_ARGS__)
#define hm_log_warn(ev, ...) hm_log(HM_LOG_WARN, ev, __VA_ARGS__)
#define hm_log_info(ev, ...) hm_log(HM_LOG_INFO, ev, __VA_ARGS__)
#define hm_log_debug(ev, ...) hm_log(HM_LOG_DEBUG, ev, __VA_ARGS__)

#endif /* HM_LOG_H */
