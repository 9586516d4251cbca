/*
 * hm_log.h - one line per event to stderr, level-gated.
 *
 * Line format (key=value, one per event):
 *   ts=2026-11-28T14:00:00.123Z level=info proc=hm-broker event=worker_ready service=auth
 * The event name and the format are the caller's; values that could carry
 * health data, chat text or tokens must never be passed (see STYLE.md).
 * hm_log_quote() quotes and escapes a value for a key=value line.
 *
 * Each line is written with one write(2) of at most HM_LOG_LINE_MAX bytes
 * (longer lines are cut and end in "..."), so lines from threads and
 * processes sharing stderr do not interleave. ts is hm_clock_wall_ms(), so a
 * faked clock shows in the log.
 */
#ifndef HM_LOG_H
#define HM_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define HM_LOG_LINE_MAX 4096 /* bytes per line, newline included (PIPE_BUF) */

typedef enum {
    HM_LOG_ERROR = 0,
    HM_LOG_WARN = 1,
    HM_LOG_INFO = 2,
    HM_LOG_DEBUG = 3,
} hm_log_level_t;

/* Sets the process name printed as proc= and the level; routes czmq's zsys
 * log into hm_log. ident is copied (up to 63 bytes).
 * czmq 4.2.1 has no log callback: hm_log_init sets zsys_set_logident(ident)
 * and points zsys_set_logstream() at a stream of ours that turns each czmq
 * line into event=czmq msg="..." (E -> error, W -> warn, N and I -> info,
 * D -> debug). The zsys setters run zsys_init(), which creates czmq's
 * context and installs its SIGINT/SIGTERM handler (zsys_interrupted) unless
 * ZSYS_SIGHANDLER=false: call hm_log_init from main() before any thread. */
void hm_log_init(const char *ident, hm_log_level_t level);

/* Parses "error", "warn", "info", "debug". Returns the level or -1. */
int hm_log_level_parse(const char *name);

void hm_log_set_level(hm_log_level_t level);
hm_log_level_t hm_log_get_level(void);

/* Logs one event. fmt holds the key=value pairs after event=<event>; may be
 * NULL. Control characters in the formatted text become spaces (quote values
 * with hm_log_quote). Keeps errno. Returns nothing; never fails loudly. */
void hm_log(hm_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hm_logv(hm_log_level_t level, const char *event, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Routes a libwebsockets log line (level is lws's LLL_*) into hm_log; pass to
 * lws_set_log_level(). LLL_ERR -> error, LLL_WARN -> warn, LLL_NOTICE and
 * LLL_USER -> info, everything else -> debug; logged as event=lws msg="..."
 * without the trailing newline. */
void hm_log_lws_emit(int lws_level, const char *line);

/* Writes s into buf (len bytes) as a key=value value: unchanged when it is
 * non-empty and has no space, '"', '=', backslash or control character;
 * otherwise in double quotes with \" \\ \n \r \t and \xHH escapes. NULL s
 * gives "". A value that does not fit is cut and ends in ..." (len >= 6 for
 * that; shorter buffers just hold a cut prefix). Returns buf (the caller's
 * buffer), or a static "" when len is 0. */
const char *hm_log_quote(const char *s, char *buf, size_t len);

#define hm_log_error(ev, ...) hm_log(HM_LOG_ERROR, ev, __VA_ARGS__)
#define hm_log_warn(ev, ...) hm_log(HM_LOG_WARN, ev, __VA_ARGS__)
#define hm_log_info(ev, ...) hm_log(HM_LOG_INFO, ev, __VA_ARGS__)
#define hm_log_debug(ev, ...) hm_log(HM_LOG_DEBUG, ev, __VA_ARGS__)

#endif /* HM_LOG_H */
