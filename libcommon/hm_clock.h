/*
 * hm_clock.h - monotonic and wall clocks, injectable for tests.
 *
 * Everything that reads time goes through these two functions. A test (or a
 * process started with HM_FAKE_CLOCK_FILE) can replace them: hm_clock_set_fake
 * pins wall time and makes both clocks advance only by hm_clock_advance.
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

/* Advances the fake clock (both wall and monotonic) by ms. No-op when real. */
void hm_clock_advance(int64_t ms);

/* Back to the real clocks. */
void hm_clock_set_real(void);

/* Formats unix ms as ISO 8601 UTC ("2024-01-01T00:00:00.000Z") into out
 * (at least 25 bytes). Returns out. */
char *hm_clock_iso8601(int64_t wall_ms, char *out, int outlen);

/* Parses ISO 8601 / RFC 3339 ("2024-01-01T00:00:00Z", fractional seconds and
 * +hh:mm offsets allowed) into unix ms. Returns 0 or -1. */
int hm_clock_parse_iso8601(const char *s, int64_t *wall_ms);

#endif /* HM_CLOCK_H */
