/*
 * hm_ids.c - random bytes and version 4 UUIDs from OpenSSL's CSPRNG.
 */
#include "hm_ids.h"

#include <limits.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>

int
hm_random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(p, chunk) != 1)
            return -1;
        p += chunk;
        len -= (size_t)chunk;
    }
    return 0;
}

int
hm_uuid4(char out[HM_UUID_STRLEN])
{
    uint8_t b[16];
    out[0] = '\0';
    if (hm_random_bytes(b, sizeof b) < 0)
        return -1;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10xx (RFC 4122) */
    snprintf(out, HM_UUID_STRLEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

static bool
s_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool
hm_uuid_valid(const char *s)
{
    if (!s)
        return false;
    for (int i = 0; i < HM_UUID_STRLEN - 1; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !s_is_hex(s[i]))
            return false; /* also stops at an early NUL */
    }
    return s[HM_UUID_STRLEN - 1] == '\0';
}
