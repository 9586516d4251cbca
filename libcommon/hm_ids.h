/*
 * hm_ids.h - identifiers: random (version 4) UUIDs from OpenSSL's CSPRNG.
 */
#ifndef HM_IDS_H
#define HM_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define HM_UUID_STRLEN 37 /* 36 characters and the NUL */

/* Writes a lowercase canonical UUIDv4 into out (HM_UUID_STRLEN bytes).
 * Returns 0, or -1 when the RNG fails (out is then an empty string). */
int hm_uuid4(char out[HM_UUID_STRLEN]);

/* True when s is a canonical UUID (any version, hex either case). */
bool hm_uuid_valid(const char *s);

/* Fills buf with len random bytes. Returns 0 or -1. */
int hm_random_bytes(void *buf, size_t len);

#endif /* HM_IDS_H */
