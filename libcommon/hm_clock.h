/*
 * hm_clock.h - monotonic and wall clocks, injectable for tests.
 *
 * Everything that reads time goes through these two functions. A test can
 * replace them: hm_clock_set_fake pins wall time and makes both clocks
 * advance only by hm_clock_advance.
 *
 * HM_FAKE_CLOCK_FILE: when this environment variable is set at the first use
 * of any hm_clock function, the wall clock is read from that file, which
 * holds unix milliseconds as decimal text (e.g. "1767225600000\n"). It is
 * re-read at most every 10 ms of real time; while it is missing or
 * unparseable the real wall clock is used. The monotonic clock stays real.
 * End-to-end tests use it to drive a running process's schedule.
 * hm_clock_set_fake and hm_clock_set_real override it for good.
 *
 * All functions are thread-safe.
 */
#ifndef HM_CLOCK_H
#define HM_CLOCK_H

#include <stdint.h>

/* Monotonic nanoseconds (CLOCK_MONOTONIC unless faked). */
int64_t hm_clock_mono_ns(void);

/* Wall clock in unix milliseconds (CLOCK_REALTIME unless faked). */
int64_t hm_clock_wall_ms(void);

/* Switches to a fake clock starting at wall_ms (monotonic starts at 0 + a
 * fixed base). */
void hm_clock_set_fake(int64_t wall_ms);

/* Advances the fake clock (both wall and monotonic) by ms. No-op when real
 * or when reading HM_FAKE_CLOCK_FILE. */
void hm_clock_advance(int64_t ms);

/* Back to the real clocks. */
void hm_clock_set_real(void);

/* Formats unix ms as ISO 8601 UTC ("2024-01-01T00:00:00.000Z") into out
 * (at least 25 bytes for years 0-9999; shorter buffers get a cut string).
 * Returns out. */
char *hm_clock_iso8601(int64_t wall_ms, char *out, int outlen);

/* Parses RFC 3339 / ISO 8601 extended ("2024-01-01T00:00:00Z") into unix ms.
 * 'T' may be 't' or a space; fractional seconds after '.' or ',' (truncated to
 * ms); the zone is required: 'Z', 'z', +hh:mm, -hh:mm or +hhmm/-hhmm.
 * Fields are range-checked (day within its month; second 60 is accepted and
 * lands on the next minute). Returns 0, or -1 with *wall_ms unchanged. */
int hm_clock_parse_iso8601(const char *s, int64_t *wall_ms);

#endif /* HM_CLOCK_H */
