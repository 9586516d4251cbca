/*
 * bench_tokens.c - tokens file and HS256 signing with OpenSSL's HMAC.
 *
 * Signing here exists because `hm-auth token` costs about 9 ms a call (a
 * process, the config, sqlite): 100 s for 10,000 users. The tokens are as
 * real as hm-auth's: same secret, same claims, verified by hm-auth.
 */
#include "bench_tokens.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_ids.h"

#define S_LINE_MAX 16384
#define S_HEADER_B64 "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" /* {"alg":"HS256","typ":"JWT"} */

static const char s_b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url of len bytes into out (4 * ceil(len / 3) + 1 bytes). */
static void
s_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = s_b64url[(v >> 18) & 63];
        out[o++] = s_b64url[(v >> 12) & 63];
        if (i + 1 < len)
            out[o++] = s_b64url[(v >> 6) & 63];
        if (i + 2 < len)
            out[o++] = s_b64url[v & 63];
    }
    out[o] = '\0';
}

/* Decodes unpadded base64url (len chars) into out (len bytes at least).
 * Returns the decoded length, or -1. */
static long
s_b64url_decode(const char *in, size_t len, unsigned char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        const char *p = strchr(s_b64url, in[i]);
        if (!p || !in[i])
            return -1;
        acc = (acc << 6) | (uint32_t)(p - s_b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

char *
bench_token_sign(const bench_signer_t *signer, int64_t user_id)
{
    char jti[HM_UUID_STRLEN], sub[24];
    if (!signer->secret || hm_uuid4(jti) != 0)
        return NULL;
    snprintf(sub, sizeof(sub), "%lld", (long long)user_id);
    long long now = (long long)time(NULL);
    json_t *claims =
        json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "sub", sub, "iat", now, "exp",
                  now + signer->ttl_s, "iss", signer->issuer, "aud", signer->audience, "jti", jti);
    char *payload = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
    json_decref(claims);
    if (!payload)
        return NULL;
    size_t plen = strlen(payload);
    size_t hlen = strlen(S_HEADER_B64);
    char *token = malloc(hlen + 1 + (plen + 2) / 3 * 4 + 1 + 44 + 1);
    if (token) {
        memcpy(token, S_HEADER_B64 ".", hlen + 1);
        s_b64url_encode((const unsigned char *)payload, plen, token + hlen + 1);
        size_t signed_len = strlen(token);
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        if (!HMAC(EVP_sha256(), signer->secret, (int)signer->secret_len,
                  (const unsigned char *)token, signed_len, mac, &maclen)) {
            free(token);
            token = NULL;
        } else {
            token[signed_len] = '.';
            s_b64url_encode(mac, maclen, token + signed_len + 1);
        }
    }
    free(payload);
    return token;
}

/* The positive user id in a token's sub claim (string or integer), or 0. */
static int64_t
s_token_sub(const char *token)
{
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2)
        return 0;
    size_t len = (size_t)(d2 - d1 - 1);
    unsigned char *raw = malloc(len + 1);
    long n = raw ? s_b64url_decode(d1 + 1, len, raw) : -1;
    json_t *claims = n > 0 ? json_loadb((const char *)raw, (size_t)n, 0, NULL) : NULL;
    free(raw);
    json_t *sub = json_object_get(claims, "sub");
    int64_t id = json_is_integer(sub)  ? json_integer_value(sub)
                 : json_is_string(sub) ? strtoll(json_string_value(sub), NULL, 10)
                                       : 0;
    json_decref(claims);
    return id > 0 ? id : 0;
}

static bool
s_all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* Fills one credential from a line (already trimmed, not empty). Returns 0
 * or -1 (printed). */
static int
s_parse_line(char *line, const bench_signer_t *signer, bench_cred_t *cred, long lineno)
{
    char *space = strpbrk(line, " \t");
    char *id_text = NULL, *token = NULL;
    if (space) {
        *space = '\0';
        id_text = line;
        token = space + 1 + strspn(space + 1, " \t");
    } else if (s_all_digits(line)) {
        id_text = line;
    } else {
        token = line;
    }
    if (id_text && !s_all_digits(id_text)) {
        fprintf(stderr, "hm-bench: tokens file line %ld: the user id is not a number\n", lineno);
        return -1;
    }
    cred->user_id = id_text ? strtoll(id_text, NULL, 10) : s_token_sub(token);
    if (cred->user_id <= 0) {
        fprintf(stderr, "hm-bench: tokens file line %ld: no positive user id\n", lineno);
        return -1;
    }
    if (!token && !signer->secret) {
        fprintf(stderr,
                "hm-bench: tokens file line %ld has a user id only: give --secret or "
                "--secret-file to sign tokens\n",
                lineno);
        return -1;
    }
    cred->token = token ? strdup(token) : bench_token_sign(signer, cred->user_id);
    if (!cred->token) {
        fprintf(stderr, "hm-bench: cannot sign a token (line %ld)\n", lineno);
        return -1;
    }
    return 0;
}

/* Strips trailing whitespace and leading blanks; returns the start. */
static char *
s_trim(char *s)
{
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    return s + strspn(s, " \t");
}

int
bench_creds_load(const char *path, const bench_signer_t *signer, bench_cred_t **creds, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "hm-bench: cannot open the tokens file %s\n", path);
        return -1;
    }
    char *line = malloc(S_LINE_MAX);
    size_t cap = 0, used = 0;
    bench_cred_t *list = NULL;
    long lineno = 0;
    int rc = line ? 0 : -1;
    while (rc == 0 && fgets(line, S_LINE_MAX, f)) {
        lineno++;
        char *s = s_trim(line);
        if (!*s || *s == '#')
            continue;
        if (used == cap) {
            cap = cap ? cap * 2 : 1024;
            bench_cred_t *grown = realloc(list, cap * sizeof(*list));
            if (!grown) {
                rc = -1;
                break;
            }
            list = grown;
        }
        rc = s_parse_line(s, signer, &list[used], lineno);
        if (rc == 0)
            used++;
    }
    fclose(f);
    free(line);
    if (rc != 0 || used == 0) {
        if (rc == 0)
            fprintf(stderr, "hm-bench: the tokens file %s has no credentials\n", path);
        bench_creds_free(&list, used);
        return -1;
    }
    *creds = list;
    *n = used;
    return 0;
}

void
bench_creds_free(bench_cred_t **creds, size_t n)
{
    if (!creds || !*creds)
        return;
    for (size_t i = 0; i < n; i++)
        free((*creds)[i].token);
    free(*creds);
    *creds = NULL;
}

unsigned char *
bench_secret_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = malloc(65537);
    size_t n = f && buf ? fread(buf, 1, 65536, f) : 0;
    if (f)
        fclose(f);
    if (n == 0) {
        fprintf(stderr, "hm-bench: cannot read the secret file %s\n", path);
        free(buf);
        return NULL;
    }
    if (buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *len = n;
    return buf;
}
