/*
 * hm_log.c - one key=value line per event to stderr, one write(2) per line.
 *
 * czmq 4.2.1 logs to a FILE * (zsys_set_logstream) and has no callback, so
 * we hand it a fopencookie() stream whose write function cuts the text into
 * lines and re-logs each through hm_log. libwebsockets hands us its lines
 * through hm_log_lws_emit.
 */
#include "hm_log.h"

#include "hm_clock.h"

#include <czmq.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* libwebsockets' LLL_* bits (lws-logs.h, unchanged since lws 2), copied so
 * that libcommon needs no lws headers. */
#define S_LLL_ERR (1 << 0)
#define S_LLL_WARN (1 << 1)
#define S_LLL_NOTICE (1 << 2)
#define S_LLL_USER (1 << 10)

#define S_IDENT_MAX 64   /* proc= value, quoted, NUL included */
#define S_CZMQ_LINE 1024 /* czmq formats at most 1023 bytes per line */

/* What czmq writes to our stream, gathered until its newline. */
typedef struct {
    char line[S_CZMQ_LINE]; /* the line so far; bytes past the bound are dropped */
    size_t len;             /* bytes in line */
} s_czmq_buf_t;

static atomic_int s_level = HM_LOG_INFO; /* events above this level are dropped */
static char s_ident[S_IDENT_MAX];        /* quoted proc= value; empty: program name */
static FILE *s_czmq_stream;              /* our stream, handed to zsys_set_logstream */
static s_czmq_buf_t s_czmq_buf;          /* guarded by s_czmq_stream's own lock */

static const char *const s_level_names[] = {"error", "warn", "info", "debug"};

/* True when a value must be quoted to stay one key=value token. */
static bool
s_needs_quote(const char *s)
{
    if (*s == '\0')
        return true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
            return true;
    return false;
}

/* Writes the escaped form of c into esc (at least 5 bytes). Returns its
 * length. */
static size_t
s_escape(unsigned char c, char *esc)
{
    switch (c) {
    case '"':
        return (size_t)snprintf(esc, 5, "\\\"");
    case '\\':
        return (size_t)snprintf(esc, 5, "\\\\");
    case '\n':
        return (size_t)snprintf(esc, 5, "\\n");
    case '\r':
        return (size_t)snprintf(esc, 5, "\\r");
    case '\t':
        return (size_t)snprintf(esc, 5, "\\t");
    default:
        if (c < ' ' || c == 0x7f)
            return (size_t)snprintf(esc, 5, "\\x%02x", c);
        esc[0] = (char)c;
        return 1;
    }
}

/* Appends n bytes of src to buf at *o when they fit below room. Returns
 * true when appended. */
static bool
s_put(char *buf, size_t *o, size_t room, const char *src, size_t n)
{
    if (*o + n > room)
        return false;
    memcpy(buf + *o, src, n);
    *o += n;
    return true;
}

const char *
hm_log_quote(const char *s, char *buf, size_t len)
{
    if (len == 0)
        return "";
    if (!s)
        s = "";
    bool quote = s_needs_quote(s);
    size_t room = len - 1; /* the NUL */
    size_t need = quote ? 2 : 0;
    char esc[5];
    for (const char *p = s; *p; p++)
        need += s_escape((unsigned char)*p, esc);

    /* When it does not fit, keep room for "..." and the closing quote; a
     * buffer too small even for those just gets a cut prefix. */
    bool cut = need > room;
    size_t tail = (cut ? 3 : 0) + (quote ? 1 : 0);
    bool marks = tail < room;
    size_t limit = marks ? room - tail : room;
    size_t o = 0;
    if (quote)
        s_put(buf, &o, limit, "\"", 1);
    for (const char *p = s; *p; p++) {
        size_t n = s_escape((unsigned char)*p, esc);
        if (!s_put(buf, &o, limit, esc, n))
            break;
    }
    if (marks && cut)
        s_put(buf, &o, room, "...", 3);
    if (marks && quote)
        s_put(buf, &o, room, "\"", 1);
    buf[o] = '\0';
    return buf;
}

int
hm_log_level_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = HM_LOG_ERROR; i <= HM_LOG_DEBUG; i++)
        if (strcasecmp(name, s_level_names[i]) == 0)
            return i;
    return -1;
}

void
hm_log_set_level(hm_log_level_t level)
{
    int l = (int)level;
    atomic_store(&s_level, l < HM_LOG_ERROR ? HM_LOG_ERROR : l > HM_LOG_DEBUG ? HM_LOG_DEBUG : l);
}

hm_log_level_t
hm_log_get_level(void)
{
    return (hm_log_level_t)atomic_load(&s_level);
}

/* Writes the whole buffer; one write(2) unless interrupted or cut short. */
static void
s_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* stderr is gone: nothing better to do */
        buf += n;
        len -= (size_t)n;
    }
}

/* Formats the head "ts=... level=... proc=... event=..." into line. Returns
 * its length (clamped to the buffer). */
static size_t
s_format_head(char *line, size_t size, hm_log_level_t level, const char *event)
{
    char ts[32];
    hm_clock_iso8601(hm_clock_wall_ms(), ts, (int)sizeof ts);
    const char *proc = s_ident[0] ? s_ident : program_invocation_short_name;
    int n = snprintf(line, size, "ts=%s level=%s proc=%s event=%s", ts, s_level_names[level], proc,
                     event && *event ? event : "-");
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

void
hm_logv(hm_log_level_t level, const char *event, const char *fmt, va_list ap)
{
    int l = (int)level;
    level = l < HM_LOG_ERROR ? HM_LOG_ERROR : l > HM_LOG_DEBUG ? HM_LOG_DEBUG : level;
    if ((int)level > atomic_load(&s_level))
        return;
    int saved_errno = errno;
    char line[HM_LOG_LINE_MAX];
    size_t max = sizeof line - 1; /* room for the newline */
    size_t len = s_format_head(line, max, level, event);
    bool cut = false;
    if (fmt && *fmt && len + 1 < max) {
        line[len++] = ' ';
        int n = vsnprintf(line + len, max - len, fmt, ap);
        if (n > 0 && (size_t)n >= max - len) {
            len = max - 1;
            cut = true;
        } else if (n > 0) {
            len += (size_t)n;
        }
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < ' ')
            line[i] = ' ';
    if (cut)
        memcpy(line + len - 3, "...", 3);
    line[len++] = '\n';
    s_write_all(STDERR_FILENO, line, len);
    errno = saved_errno;
}

void
hm_log(hm_log_level_t level, const char *event, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hm_logv(level, event, fmt, ap);
    va_end(ap);
}

/* Maps czmq's level letter to ours. */
static hm_log_level_t
s_czmq_level(char c)
{
    switch (c) {
    case 'E':
        return HM_LOG_ERROR;
    case 'W':
        return HM_LOG_WARN;
    case 'D':
        return HM_LOG_DEBUG;
    default: /* 'N', 'I' */
        return HM_LOG_INFO;
    }
}

/* Logs one czmq line, "L: (ident) yy-mm-dd HH:MM:SS text", as event=czmq. */
static void
s_czmq_emit(const char *line)
{
    hm_log_level_t level = HM_LOG_INFO;
    const char *msg = line;
    if (line[0] && line[1] == ':' && line[2] == ' ') {
        level = s_czmq_level(line[0]);
        msg = line + 3;
        const char *close = *msg == '(' ? strstr(msg, ") ") : NULL;
        if (close)
            msg = close + 2;
        if (strlen(msg) >= 18 && msg[2] == '-' && msg[5] == '-' && msg[8] == ' ' &&
            msg[11] == ':' && msg[14] == ':' && msg[17] == ' ')
            msg += 18;
    }
    char q[HM_LOG_LINE_MAX];
    hm_log(level, "czmq", "msg=%s", hm_log_quote(msg, q, sizeof q));
}

/* fopencookie write function: gathers czmq's text and logs each line. */
static ssize_t
s_czmq_write(void *cookie, const char *data, size_t size)
{
    s_czmq_buf_t *buf = cookie;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\n') {
            buf->line[buf->len] = '\0';
            s_czmq_emit(buf->line);
            buf->len = 0;
        } else if (buf->len < sizeof buf->line - 1) {
            buf->line[buf->len++] = data[i];
        }
    }
    return (ssize_t)size;
}

void
hm_log_init(const char *ident, hm_log_level_t level)
{
    hm_log_quote(ident && *ident ? ident : program_invocation_short_name, s_ident, sizeof s_ident);
    hm_log_set_level(level);
    zsys_set_logident(ident && *ident ? ident : program_invocation_short_name);
    if (!s_czmq_stream) {
        /* Lives until exit: czmq may log from its atexit handler. */
        cookie_io_functions_t io = {.write = s_czmq_write};
        s_czmq_stream = fopencookie(&s_czmq_buf, "w", io);
        if (s_czmq_stream)
            setvbuf(s_czmq_stream, NULL, _IOLBF, 0);
    }
    zsys_set_logstream(s_czmq_stream ? s_czmq_stream : stderr);
}

void
hm_log_lws_emit(int lws_level, const char *line)
{
    hm_log_level_t level = HM_LOG_DEBUG;
    if (lws_level & S_LLL_ERR)
        level = HM_LOG_ERROR;
    else if (lws_level & S_LLL_WARN)
        level = HM_LOG_WARN;
    else if (lws_level & (S_LLL_NOTICE | S_LLL_USER))
        level = HM_LOG_INFO;
    if ((int)level > atomic_load(&s_level))
        return;
    char msg[HM_LOG_LINE_MAX];
    snprintf(msg, sizeof msg, "%s", line ? line : "");
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    char q[HM_LOG_LINE_MAX];
    hm_log(level, "lws", "msg=%s", hm_log_quote(msg, q, sizeof q));
}
