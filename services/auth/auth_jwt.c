/*
 * auth_jwt.c - JWT verification with every check libjwt 1.10 leaves out,
 * and signing for `hm-auth token`.
 *
 * The header is decoded and its alg compared with the configured one before
 * libjwt sees the token, because jwt_decode() takes the algorithm from the
 * header: given an RSA public key and a header saying HS256 it would check
 * an HMAC keyed with the PEM text.
 */
#include "auth_jwt.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_clock.h"
#include "hm_ids.h"
#include "hm_log.h"
#include "hm_proto.h"

#define S_SUB_DIGITS_MAX 18 /* decimal digits of a user id: always fits int64 */

struct auth_jwt_t {
    jwt_alg_t alg;           /* the pinned algorithm */
    char alg_name[8];        /* its spelling in a header ("HS256") */
    unsigned char *key;      /* HS: secret; RS/ES: public key PEM, or NULL; owned */
    size_t key_len;          /* bytes in key */
    unsigned char *sign_key; /* RS/ES private key PEM or NULL; owned */
    size_t sign_key_len;     /* bytes in sign_key */
    char *issuer;            /* required iss; owned */
    char *audience;          /* required aud; owned */
    int leeway_s;            /* allowed clock skew, seconds */
};

/* A token cut at its two dots. Pointers into the token. */
typedef struct {
    const char *seg[3]; /* header, payload, signature */
    size_t len[3];      /* their lengths */
} s_parts_t;

/* ---- base64url and splitting ----------------------------------------- */

/* The 6-bit value of a base64url character, -1 for anything else. */
static int
s_b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes len characters of unpadded, canonical base64url. Returns a
 * NUL-terminated buffer (caller frees) and *outlen, or NULL. */
static unsigned char *
s_b64url_decode(const char *in, size_t len, size_t *outlen)
{
    if (len % 4 == 1)
        return NULL;
    unsigned char *out = malloc(len * 3 / 4 + 1);
    if (!out)
        return NULL;
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = s_b64url_value((unsigned char)in[i]);
        if (v < 0)
            goto err;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* leftover bits must be zero */
        goto err;
    out[n] = '\0';
    *outlen = n;
    return out;
err:
    free(out);
    return NULL;
}

/* Cuts token (len bytes) at exactly two dots; header and payload must not
 * be empty. Returns 0 or -1. */
static int
s_split(const char *token, size_t len, s_parts_t *parts)
{
    const char *end = token + len;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(end - d1 - 1)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', (size_t)(end - d2 - 1)))
        return -1;
    parts->seg[0] = token;
    parts->len[0] = (size_t)(d1 - token);
    parts->seg[1] = d1 + 1;
    parts->len[1] = (size_t)(d2 - d1 - 1);
    parts->seg[2] = d2 + 1;
    parts->len[2] = (size_t)(end - d2 - 1);
    return parts->len[0] > 0 && parts->len[1] > 0 ? 0 : -1;
}

/* Decodes one segment and parses it as a JSON object (duplicate keys
 * refused). Returns the object (caller owns) or NULL. */
static json_t *
s_segment_json(const s_parts_t *parts, int i)
{
    size_t len = 0;
    unsigned char *raw = s_b64url_decode(parts->seg[i], parts->len[i], &len);
    if (!raw)
        return NULL;
    json_t *json = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (json && !json_is_object(json)) {
        json_decref(json);
        return NULL;
    }
    return json;
}

/* ---- the checks, in order -------------------------------------------- */

/* The header: alg must be the pinned one; typ, when present, "JWT" (libjwt
 * refuses anything else); crit is not supported. */
static auth_jwt_err_t
s_check_header(const char *alg_name, const s_parts_t *parts)
{
    json_t *hdr = s_segment_json(parts, 0);
    if (!hdr)
        return AUTH_JWT_E_MALFORMED;
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    json_t *typ = json_object_get(hdr, "typ");
    auth_jwt_err_t err = AUTH_JWT_OK;
    if (!alg)
        err = AUTH_JWT_E_MALFORMED;
    else if (strcmp(alg, alg_name) != 0)
        err = AUTH_JWT_E_ALG;
    else if (json_object_get(hdr, "crit") ||
             (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0)))
        err = AUTH_JWT_E_MALFORMED;
    json_decref(hdr);
    return err;
}

/* The signature, by libjwt, now that the header's alg is known to be ours. */
static auth_jwt_err_t
s_check_signature(const auth_jwt_t *self, const char *token)
{
    if (!self->key)
        return AUTH_JWT_E_SIGNATURE; /* a signing-only instance verifies nothing */
    jwt_t *jwt = NULL;
    int rc = jwt_decode(&jwt, token, self->key, (int)self->key_len);
    auth_jwt_err_t err = AUTH_JWT_OK;
    if (rc != 0 || !jwt || jwt_get_alg(jwt) != self->alg)
        err = AUTH_JWT_E_SIGNATURE;
    jwt_free(jwt);
    ERR_clear_error();
    return err;
}

/* Reads a NumericDate claim. Returns 1 (set), 0 (absent) or -1 (not a
 * number, or out of range). */
static int
s_numeric_date(const json_t *payload, const char *name, int64_t *out)
{
    json_t *v = json_object_get(payload, name);
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d > -9e15 && d < 9e15))
            return -1;
        int64_t t = (int64_t)d; /* toward zero; NumericDate rounds down */
        *out = (double)t > d ? t - 1 : t;
        return 1;
    }
    return -1;
}

/* A positive user id from sub (integer, or decimal string without sign or
 * leading zeros). 0 when sub is anything else. */
static int64_t
s_parse_sub(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) > 0 ? json_integer_value(v) : 0;
    const char *s = json_string_value(v);
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > S_SUB_DIGITS_MAX || s[0] == '0')
        return 0;
    int64_t id = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
        id = id * 10 + (s[i] - '0');
    }
    return id;
}

/* Copies a valid jti (1 to AUTH_JTI_MAX printable ASCII characters, no
 * space) into out. Returns 0 or -1. */
static int
s_parse_jti(const json_t *v, char *out)
{
    const char *s = json_string_value(v);
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > AUTH_JTI_MAX)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return -1;
    memcpy(out, s, len + 1);
    return 0;
}

/* aud: the configured audience, or an array that contains it. */
static bool
s_audience_ok(const auth_jwt_t *self, const json_t *aud)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), self->audience) == 0;
    size_t i;
    json_t *item;
    json_array_foreach(aud, i, item)
    {
        if (json_is_string(item) && strcmp(json_string_value(item), self->audience) == 0)
            return true;
    }
    return false;
}

/* exp, nbf and iat against now and the leeway. */
static auth_jwt_err_t
s_check_times(const auth_jwt_t *self, const json_t *payload, auth_jwt_claims_t *claims)
{
    int64_t now = hm_clock_wall_ms() / 1000, nbf = 0;
    int has_exp = s_numeric_date(payload, "exp", &claims->exp);
    int has_nbf = s_numeric_date(payload, "nbf", &nbf);
    int has_iat = s_numeric_date(payload, "iat", &claims->iat);
    if (has_exp != 1 || has_nbf < 0 || has_iat < 0)
        return AUTH_JWT_E_MALFORMED;
    if (now - self->leeway_s >= claims->exp)
        return AUTH_JWT_E_EXPIRED;
    if ((has_nbf && nbf > now + self->leeway_s) || (has_iat && claims->iat > now + self->leeway_s))
        return AUTH_JWT_E_NOT_YET_VALID;
    return AUTH_JWT_OK;
}

/* Every claim, after the signature verified. */
static auth_jwt_err_t
s_check_claims(const auth_jwt_t *self, const json_t *payload, auth_jwt_claims_t *claims)
{
    claims->user_id = s_parse_sub(json_object_get(payload, "sub"));
    int jti_ok = s_parse_jti(json_object_get(payload, "jti"), claims->jti);
    auth_jwt_err_t err = s_check_times(self, payload, claims);
    if (err != AUTH_JWT_OK)
        return err;
    const char *iss = json_string_value(json_object_get(payload, "iss"));
    if (!iss || strcmp(iss, self->issuer) != 0)
        return AUTH_JWT_E_ISSUER;
    if (!s_audience_ok(self, json_object_get(payload, "aud")))
        return AUTH_JWT_E_AUDIENCE;
    if (jti_ok != 0 || claims->user_id <= 0)
        return AUTH_JWT_E_MALFORMED;
    return AUTH_JWT_OK;
}

auth_jwt_err_t
auth_jwt_precheck(const char *alg_name, const char *token, json_t **payload_out)
{
    *payload_out = NULL;
    size_t len = token ? strnlen(token, AUTH_JWT_MAX_TOKEN + 1) : 0;
    s_parts_t parts;
    if (!alg_name || len == 0 || len > AUTH_JWT_MAX_TOKEN || s_split(token, len, &parts) != 0)
        return AUTH_JWT_E_MALFORMED;
    auth_jwt_err_t err = s_check_header(alg_name, &parts);
    if (err != AUTH_JWT_OK)
        return err;
    json_t *payload = s_segment_json(&parts, 1);
    size_t siglen = 0;
    unsigned char *sig = s_b64url_decode(parts.seg[2], parts.len[2], &siglen);
    bool sig_ok = sig != NULL;
    free(sig);
    if (!payload || !sig_ok) {
        json_decref(payload);
        return AUTH_JWT_E_MALFORMED;
    }
    *payload_out = payload;
    return AUTH_JWT_OK;
}

auth_jwt_err_t
auth_jwt_check_claims(const auth_jwt_t *self, const json_t *payload, auth_jwt_claims_t *claims)
{
    memset(claims, 0, sizeof *claims);
    return s_check_claims(self, payload, claims);
}

auth_jwt_err_t
auth_jwt_verify(auth_jwt_t *self, const char *token, auth_jwt_claims_t *claims)
{
    memset(claims, 0, sizeof *claims);
    json_t *payload = NULL;
    auth_jwt_err_t err = auth_jwt_precheck(self->alg_name, token, &payload);
    if (err == AUTH_JWT_OK)
        err = s_check_signature(self, token);
    if (err == AUTH_JWT_OK)
        err = s_check_claims(self, payload, claims);
    json_decref(payload);
    return err;
}

const char *
auth_jwt_err_code(auth_jwt_err_t err)
{
    switch (err) {
    case AUTH_JWT_OK:
        return NULL;
    case AUTH_JWT_E_MALFORMED:
        return HM_ERR_TOKEN_MALFORMED;
    case AUTH_JWT_E_ALG:
        return HM_ERR_TOKEN_ALG;
    case AUTH_JWT_E_SIGNATURE:
        return HM_ERR_TOKEN_SIGNATURE;
    case AUTH_JWT_E_EXPIRED:
        return HM_ERR_TOKEN_EXPIRED;
    case AUTH_JWT_E_NOT_YET_VALID:
        return HM_ERR_TOKEN_NOT_YET_VALID;
    case AUTH_JWT_E_ISSUER:
        return HM_ERR_TOKEN_ISSUER;
    case AUTH_JWT_E_AUDIENCE:
        return HM_ERR_TOKEN_AUDIENCE;
    }
    return HM_ERR_AUTH_FAILED;
}

const char *
auth_jwt_err_message(auth_jwt_err_t err)
{
    switch (err) {
    case AUTH_JWT_OK:
        return "ok";
    case AUTH_JWT_E_MALFORMED:
        return "token is not a well-formed JWT with the required claims";
    case AUTH_JWT_E_ALG:
        return "token algorithm is not the configured one";
    case AUTH_JWT_E_SIGNATURE:
        return "token signature does not verify";
    case AUTH_JWT_E_EXPIRED:
        return "token expired";
    case AUTH_JWT_E_NOT_YET_VALID:
        return "token not valid yet";
    case AUTH_JWT_E_ISSUER:
        return "token issuer is not accepted";
    case AUTH_JWT_E_AUDIENCE:
        return "token audience is not accepted";
    }
    return "authentication failed";
}

/* ---- keys, construction, signing -------------------------------------- */

/* Refuses to prompt for a passphrase: encrypted keys are not supported. */
static int
s_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

/* Checks that a PEM key parses and suits alg: RSA for RS256, EC P-256 for
 * ES256. Returns 0 or -1. */
static int
s_check_pem(jwt_alg_t alg, const unsigned char *pem, size_t len, bool private_key)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey = NULL;
    if (bio)
        pkey = private_key ? PEM_read_bio_PrivateKey(bio, NULL, s_no_passphrase, NULL)
                           : PEM_read_bio_PUBKEY(bio, NULL, s_no_passphrase, NULL);
    int rc = -1;
    if (pkey && alg == JWT_ALG_RS256 && EVP_PKEY_base_id(pkey) == EVP_PKEY_RSA)
        rc = 0;
    if (pkey && alg == JWT_ALG_ES256 && EVP_PKEY_base_id(pkey) == EVP_PKEY_EC) {
        char group[64];
        size_t glen = 0;
        if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) == 1 &&
            strcmp(group, "prime256v1") == 0)
            rc = 0;
    }
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

/* Copies len bytes (NUL-terminated). NULL when src is NULL or on ENOMEM. */
static unsigned char *
s_memdup(const unsigned char *src, size_t len)
{
    if (!src)
        return NULL;
    unsigned char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, src, len);
        copy[len] = '\0';
    }
    return copy;
}

/* Validates the keys of cfg for alg. Returns 0 or -1 (logged). */
static int
s_check_keys(jwt_alg_t alg, const auth_jwt_cfg_t *cfg)
{
    bool has_key = cfg->key && cfg->key_len > 0;
    bool has_sign = cfg->sign_key && cfg->sign_key_len > 0;
    if (alg == JWT_ALG_HS256) {
        if (!has_key) {
            hm_log_error("jwt_config", "reason=empty_secret alg=HS256");
            return -1;
        }
        return 0;
    }
    if (!has_key && !has_sign) {
        hm_log_error("jwt_config", "reason=no_key alg=%s", cfg->alg);
        return -1;
    }
    if (has_key && s_check_pem(alg, cfg->key, cfg->key_len, false) != 0) {
        hm_log_error("jwt_config", "reason=bad_public_key alg=%s", cfg->alg);
        return -1;
    }
    if (has_sign && s_check_pem(alg, cfg->sign_key, cfg->sign_key_len, true) != 0) {
        hm_log_error("jwt_config", "reason=bad_private_key alg=%s", cfg->alg);
        return -1;
    }
    return 0;
}

auth_jwt_t *
auth_jwt_new(const auth_jwt_cfg_t *cfg)
{
    jwt_alg_t alg = cfg->alg ? jwt_str_alg(cfg->alg) : JWT_ALG_INVAL;
    if (alg != JWT_ALG_HS256 && alg != JWT_ALG_RS256 && alg != JWT_ALG_ES256) {
        hm_log_error("jwt_config", "reason=unsupported_alg");
        return NULL;
    }
    if (s_check_keys(alg, cfg) != 0)
        return NULL;
    auth_jwt_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->alg = alg;
    snprintf(self->alg_name, sizeof self->alg_name, "%s", jwt_alg_str(alg));
    self->key_len = cfg->key ? cfg->key_len : 0;
    self->key = s_memdup(cfg->key, self->key_len);
    self->sign_key_len = alg != JWT_ALG_HS256 && cfg->sign_key ? cfg->sign_key_len : 0;
    self->sign_key = alg != JWT_ALG_HS256 ? s_memdup(cfg->sign_key, self->sign_key_len) : NULL;
    self->issuer = strdup(cfg->issuer ? cfg->issuer : "");
    self->audience = strdup(cfg->audience ? cfg->audience : "");
    self->leeway_s = cfg->leeway_s > 0 ? cfg->leeway_s : 0;
    if ((cfg->key && !self->key) || (self->sign_key_len && !self->sign_key) || !self->issuer ||
        !self->audience)
        auth_jwt_destroy(&self);
    return self;
}

void
auth_jwt_destroy(auth_jwt_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    auth_jwt_t *self = *self_p;
    if (self->key)
        OPENSSL_cleanse(self->key, self->key_len);
    if (self->sign_key)
        OPENSSL_cleanse(self->sign_key, self->sign_key_len);
    free(self->key);
    free(self->sign_key);
    free(self->issuer);
    free(self->audience);
    free(self);
    *self_p = NULL;
}

/* Adds the registered claims of a new token to jwt. Returns 0 or an errno. */
static int
s_add_claims(const auth_jwt_t *self, jwt_t *jwt, int64_t user_id, int64_t ttl_s, const char *jti)
{
    char sub[24];
    snprintf(sub, sizeof sub, "%lld", (long long)user_id);
    int64_t now = hm_clock_wall_ms() / 1000;
    int rc = jwt_add_grant(jwt, "sub", sub);
    if (rc == 0)
        rc = jwt_add_grant_int(jwt, "iat", (long)now);
    if (rc == 0)
        rc = jwt_add_grant_int(jwt, "exp", (long)(now + ttl_s));
    if (rc == 0)
        rc = jwt_add_grant(jwt, "iss", self->issuer);
    if (rc == 0)
        rc = jwt_add_grant(jwt, "aud", self->audience);
    if (rc == 0)
        rc = jwt_add_grant(jwt, "jti", jti);
    return rc;
}

char *
auth_jwt_sign(auth_jwt_t *self, int64_t user_id, int64_t ttl_s, char *jti_out)
{
    bool hs = self->alg == JWT_ALG_HS256;
    const unsigned char *key = hs ? self->key : self->sign_key;
    size_t key_len = hs ? self->key_len : self->sign_key_len;
    if (!key || user_id <= 0 || ttl_s <= 0) {
        hm_log_error("jwt_sign_failed", "reason=%s", key ? "bad_arguments" : "no_signing_key");
        return NULL;
    }
    char jti[HM_UUID_STRLEN];
    if (hm_uuid4(jti) != 0)
        return NULL;
    jwt_t *jwt = NULL;
    char *token = NULL;
    if (jwt_new(&jwt) == 0 && s_add_claims(self, jwt, user_id, ttl_s, jti) == 0 &&
        jwt_set_alg(jwt, self->alg, key, (int)key_len) == 0)
        token = jwt_encode_str(jwt);
    jwt_free(jwt);
    ERR_clear_error();
    if (!token) {
        hm_log_error("jwt_sign_failed", "reason=libjwt alg=%s", self->alg_name);
        return NULL;
    }
    if (jti_out)
        snprintf(jti_out, AUTH_JTI_MAX + 1, "%s", jti);
    return token;
}

unsigned char *
auth_jwt_read_file(const char *path, int strip_newline, size_t *len)
{
    char q[512];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    unsigned char *buf = NULL;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > AUTH_JWT_MAX_KEY)
        goto err;
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        goto err;
    ssize_t n = read(fd, buf, (size_t)st.st_size);
    if (n != st.st_size)
        goto err;
    close(fd);
    size_t used = (size_t)n;
    if (strip_newline && used > 0 && buf[used - 1] == '\n')
        used--;
    if (strip_newline && used > 0 && buf[used - 1] == '\r')
        used--;
    buf[used] = '\0';
    *len = used;
    return buf;
err:
    hm_log_error("key_file_unreadable", "path=%s errno=%d", hm_log_quote(path, q, sizeof q), errno);
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}
