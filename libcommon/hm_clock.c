/*
 * hm_clock.c - real, fake and file-driven clocks; ISO 8601 formatting and
 * parsing.
 */
#include "hm_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_FAKE_MONO_BASE_NS 1000000000000LL /* fake monotonic time starts at 1000 s */
#define S_FILE_REREAD_NS 10000000LL         /* HM_FAKE_CLOCK_FILE read at most every 10 ms */

typedef enum {
    S_REAL, /* CLOCK_REALTIME and CLOCK_MONOTONIC */
    S_FAKE, /* pinned, moved by hm_clock_advance */
    S_FILE, /* wall time from HM_FAKE_CLOCK_FILE, monotonic real */
} s_mode_t;

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t s_mutex = PTHREAD_MUTEX_INITIALIZER; /* guards everything below */
static s_mode_t s_mode = S_REAL;                            /* which clock answers */
static int64_t s_fake_wall_ms;                              /* S_FAKE: wall time */
static int64_t s_fake_mono_ns;                              /* S_FAKE: monotonic time */
static char s_file_path[PATH_MAX];                          /* S_FILE: the file to read */
static int64_t s_file_wall_ms = -1; /* S_FILE: last value read, -1 when unusable */
static int64_t s_file_read_ns = -1; /* S_FILE: real monotonic time of that read */

/* First use: switch to the file clock when HM_FAKE_CLOCK_FILE is set. */
static void
s_init_once(void)
{
    const char *path = getenv("HM_FAKE_CLOCK_FILE");
    if (path && *path && strlen(path) < sizeof s_file_path) {
        snprintf(s_file_path, sizeof s_file_path, "%s", path);
        s_mode = S_FILE;
    }
}

static void
s_init(void)
{
    pthread_once(&s_once, s_init_once);
}

static int64_t
s_real_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t
s_real_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Reads unix ms from the clock file. Returns the value or -1. */
static int64_t
s_read_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char text[64];
    ssize_t n;
    do
        n = read(fd, text, sizeof text - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    while (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')
        end++;
    if (errno || end == text || *end != '\0' || value < 0)
        return -1;
    return value;
}

/* Wall time in S_FILE mode; caller holds s_mutex. */
static int64_t
s_file_wall_ms_locked(void)
{
    int64_t now = s_real_mono_ns();
    if (s_file_read_ns < 0 || now - s_file_read_ns >= S_FILE_REREAD_NS) {
        int saved_errno = errno;
        s_file_wall_ms = s_read_file(s_file_path);
        errno = saved_errno;
        s_file_read_ns = now;
    }
    return s_file_wall_ms >= 0 ? s_file_wall_ms : s_real_wall_ms();
}

int64_t
hm_clock_mono_ns(void)
{
    s_init();
    pthread_mutex_lock(&s_mutex);
    int64_t now = s_mode == S_FAKE ? s_fake_mono_ns : s_real_mono_ns();
    pthread_mutex_unlock(&s_mutex);
    return now;
}

int64_t
hm_clock_wall_ms(void)
{
    s_init();
    pthread_mutex_lock(&s_mutex);
    int64_t now;
    if (s_mode == S_FAKE)
        now = s_fake_wall_ms;
    else if (s_mode == S_FILE)
        now = s_file_wall_ms_locked();
    else
        now = s_real_wall_ms();
    pthread_mutex_unlock(&s_mutex);
    return now;
}

void
hm_clock_set_fake(int64_t wall_ms)
{
    s_init();
    pthread_mutex_lock(&s_mutex);
    s_mode = S_FAKE;
    s_fake_wall_ms = wall_ms;
    s_fake_mono_ns = S_FAKE_MONO_BASE_NS;
    pthread_mutex_unlock(&s_mutex);
}

void
hm_clock_advance(int64_t ms)
{
    s_init();
    pthread_mutex_lock(&s_mutex);
    if (s_mode == S_FAKE) {
        s_fake_wall_ms += ms;
        s_fake_mono_ns += ms * 1000000LL;
    }
    pthread_mutex_unlock(&s_mutex);
}

void
hm_clock_set_real(void)
{
    s_init();
    pthread_mutex_lock(&s_mutex);
    s_mode = S_REAL;
    pthread_mutex_unlock(&s_mutex);
}

char *
hm_clock_iso8601(int64_t wall_ms, char *out, int outlen)
{
    if (!out || outlen <= 0)
        return out;
    int64_t secs = wall_ms / 1000;
    int ms = (int)(wall_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        out[0] = '\0';
        return out;
    }
    snprintf(out, (size_t)outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return out;
}

/* Reads exactly n decimal digits at *p into *out. Returns 0 or -1. */
static int
s_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Consumes c at *p. Returns 0 or -1. */
static int
s_expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

/* Reads ".ddd..." (the dot already consumed) as milliseconds. */
static int
s_fraction(const char **p, int *ms)
{
    int v = 0, n = 0;
    for (; **p >= '0' && **p <= '9'; (*p)++, n++)
        if (n < 3)
            v = v * 10 + (**p - '0');
    if (n == 0)
        return -1;
    for (; n < 3; n++)
        v *= 10;
    *ms = v;
    return 0;
}

/* Reads the zone: Z, +hh:mm, -hh:mm, +hhmm, -hhmm. *minutes east of UTC. */
static int
s_offset(const char **p, int *minutes)
{
    char sign = **p;
    if (sign == 'Z' || sign == 'z') {
        (*p)++;
        *minutes = 0;
        return 0;
    }
    if (sign != '+' && sign != '-')
        return -1;
    (*p)++;
    int hh, mm;
    if (s_digits(p, 2, &hh) < 0)
        return -1;
    if (**p == ':')
        (*p)++;
    if (s_digits(p, 2, &mm) < 0 || hh > 23 || mm > 59)
        return -1;
    *minutes = (sign == '-' ? -1 : 1) * (hh * 60 + mm);
    return 0;
}

static bool
s_valid_date(int y, int mo, int d)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[mo - 1] + (mo == 2 && leap ? 1 : 0);
}

int
hm_clock_parse_iso8601(const char *s, int64_t *wall_ms)
{
    if (!s || !wall_ms)
        return -1;
    const char *p = s;
    int y, mo, d, h, mi, sec, ms = 0, off = 0;
    if (s_digits(&p, 4, &y) || s_expect(&p, '-') || s_digits(&p, 2, &mo) || s_expect(&p, '-') ||
        s_digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (s_digits(&p, 2, &h) || s_expect(&p, ':') || s_digits(&p, 2, &mi) || s_expect(&p, ':') ||
        s_digits(&p, 2, &sec))
        return -1;
    if (*p == '.' || *p == ',') {
        p++;
        if (s_fraction(&p, &ms) < 0)
            return -1;
    }
    if (s_offset(&p, &off) < 0 || *p != '\0')
        return -1;
    if (!s_valid_date(y, mo, d) || h > 23 || mi > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    *wall_ms = (int64_t)t * 1000 + ms - (int64_t)off * 60000;
    return 0;
}
