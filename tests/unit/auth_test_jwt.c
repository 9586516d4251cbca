/*
 * auth_test_jwt.c - auth_jwt: tokens forged by hand (base64url of JSON and
 * an HMAC or signature from OpenSSL) so that any header or claim can be
 * tried; each refusal must come with its own code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_jwt.h"
#include "hm_clock.h"
#include "hm_proto.h"

#define NOW 1767225600LL /* 2026-01-01T00:00:00Z, the faked clock */
#define SECRET "0123456789abcdef0123456789abcdef"
#define ISSUER "healthmate"
#define AUDIENCE "healthmate-realtime"

static EVP_PKEY *s_rsa, *s_rsa_other, *s_ec;                /* key pairs made once */
static char *s_rsa_pub, *s_rsa_priv, *s_ec_pub, *s_ec_priv; /* their PEM text */

/* ---- forging ------------------------------------------------------------ */

/* base64url without padding; caller frees. */
static char *
b64url(const void *data, size_t len)
{
    char *out = calloc(1, 4 * ((len + 2) / 3) + 1);
    assert_non_null(out);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        out[--n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

/* "b64(header).b64(payload)"; caller frees. */
static char *
signing_input(const char *header, const char *payload)
{
    char *h = b64url(header, strlen(header)), *p = b64url(payload, strlen(payload));
    char *out = NULL;
    assert_true(asprintf(&out, "%s.%s", h, p) > 0);
    free(h);
    free(p);
    return out;
}

/* Appends ".b64(sig)" to input (freed); returns the token. */
static char *
with_sig(char *input, const unsigned char *sig, size_t siglen)
{
    char *s = b64url(sig, siglen), *out = NULL;
    assert_true(asprintf(&out, "%s.%s", input, s) > 0);
    free(s);
    free(input);
    return out;
}

/* A token with an HMAC signature (md NULL: empty signature). */
static char *
forge_hs(const char *header, const char *payload, const EVP_MD *md, const void *key, size_t klen)
{
    char *input = signing_input(header, payload);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (md)
        assert_non_null(
            HMAC(md, key, (int)klen, (unsigned char *)input, strlen(input), mac, &maclen));
    return with_sig(input, mac, maclen);
}

/* A token signed with pkey (RS256: PKCS#1 v1.5; ES256: JOSE r||s). */
static char *
forge_pk(const char *header, const char *payload, EVP_PKEY *pkey)
{
    char *input = signing_input(header, payload);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[1024];
    size_t len = sizeof der;
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey), 1);
    assert_int_equal(EVP_DigestSign(ctx, der, &len, (unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    if (EVP_PKEY_base_id(pkey) != EVP_PKEY_EC)
        return with_sig(input, der, len);
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    assert_non_null(sig);
    unsigned char raw[64];
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
    ECDSA_SIG_free(sig);
    return with_sig(input, raw, sizeof raw);
}

/* The claims of a good token for user 7; change them per test. */
static json_t *
claims(void)
{
    json_t *c =
        json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "sub", "7", "iat", (json_int_t)NOW, "exp",
                  (json_int_t)(NOW + 600), "iss", ISSUER, "aud", AUDIENCE, "jti", "jti-0001");
    assert_non_null(c);
    return c;
}

/* The good claims as compact JSON text; caller frees. */
static char *
payload_text(void)
{
    json_t *c = claims();
    char *text = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    return text;
}

/* An HS256 token over c (taken) with header alg. */
static char *
hs_token(const char *alg, json_t *c)
{
    char header[128];
    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    char *payload = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    char *tok = forge_hs(header, payload, EVP_sha256(), SECRET, strlen(SECRET));
    free(payload);
    return tok;
}

/* ---- verifiers ---------------------------------------------------------- */

static auth_jwt_t *
hs_verifier(void)
{
    auth_jwt_cfg_t cfg = {
        "HS256", (const unsigned char *)SECRET, strlen(SECRET), NULL, 0, ISSUER, AUDIENCE, 30};
    auth_jwt_t *jwt = auth_jwt_new(&cfg);
    assert_non_null(jwt);
    return jwt;
}

static auth_jwt_t *
pem_verifier(const char *alg, const char *pub, const char *priv)
{
    auth_jwt_cfg_t cfg = {alg,
                          (const unsigned char *)pub,
                          pub ? strlen(pub) : 0,
                          (const unsigned char *)priv,
                          priv ? strlen(priv) : 0,
                          ISSUER,
                          AUDIENCE,
                          30};
    return auth_jwt_new(&cfg);
}

/* Verifies tok (freed) with jwt; returns the result. */
static auth_jwt_err_t
verify(auth_jwt_t *jwt, char *tok, auth_jwt_claims_t *out)
{
    auth_jwt_claims_t local;
    auth_jwt_err_t err = auth_jwt_verify(jwt, tok, out ? out : &local);
    free(tok);
    return err;
}

/* Verifies an HS256 token over c (taken) with the default verifier. */
static auth_jwt_err_t
verify_claims(json_t *c)
{
    auth_jwt_t *jwt = hs_verifier();
    auth_jwt_err_t err = verify(jwt, hs_token("HS256", c), NULL);
    auth_jwt_destroy(&jwt);
    return err;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_valid_hs256_token_is_accepted(void **state)
{
    auth_jwt_t *jwt = hs_verifier();
    auth_jwt_claims_t c;
    assert_int_equal(verify(jwt, hs_token("HS256", claims()), &c), AUTH_JWT_OK);
    assert_int_equal(c.user_id, 7);
    assert_int_equal(c.exp, NOW + 600);
    assert_int_equal(c.iat, NOW);
    assert_string_equal(c.jti, "jti-0001");
    assert_null(auth_jwt_err_code(AUTH_JWT_OK));

    json_t *cl = claims(); /* sub as an integer, aud as an array containing ours */
    json_object_set_new(cl, "sub", json_integer(12));
    json_object_set_new(cl, "aud", json_pack("[s, s]", "other", AUDIENCE));
    assert_int_equal(verify(jwt, hs_token("HS256", cl), &c), AUTH_JWT_OK);
    assert_int_equal(c.user_id, 12);
    auth_jwt_destroy(&jwt);
}

static void
test_error_codes_are_the_spec_strings(void **state)
{
    assert_string_equal(auth_jwt_err_code(AUTH_JWT_E_MALFORMED), HM_ERR_TOKEN_MALFORMED);
    assert_string_equal(auth_jwt_err_code(AUTH_JWT_E_ALG), "token_bad_algorithm");
    assert_string_equal(auth_jwt_err_code(AUTH_JWT_E_SIGNATURE), "token_bad_signature");
    assert_string_equal(auth_jwt_err_code(AUTH_JWT_E_EXPIRED), "token_expired");
    assert_string_equal(auth_jwt_err_code(AUTH_JWT_E_NOT_YET_VALID), "token_not_yet_valid");
    assert_string_equal(auth_jwt_err_code(AUTH_JWT_E_ISSUER), "token_bad_issuer");
    assert_string_equal(auth_jwt_err_code(AUTH_JWT_E_AUDIENCE), "token_bad_audience");
}

static void
test_alg_none_and_other_algs_are_refused(void **state)
{
    auth_jwt_t *jwt = hs_verifier();
    char *payload = payload_text();
    /* alg none, unsigned, in several spellings */
    const char *nones[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\",\"typ\":\"JWT\"}",
                           "{\"alg\":\"NONE\"}", "{\"alg\":\"\"}"};
    for (size_t i = 0; i < sizeof nones / sizeof nones[0]; i++)
        assert_int_equal(verify(jwt, forge_hs(nones[i], payload, NULL, NULL, 0), NULL),
                         AUTH_JWT_E_ALG);
    /* alg none carrying a valid HMAC */
    assert_int_equal(
        verify(jwt, forge_hs("{\"alg\":\"none\"}", payload, EVP_sha256(), SECRET, strlen(SECRET)),
               NULL),
        AUTH_JWT_E_ALG);
    /* correctly signed HS384 and HS512 */
    assert_int_equal(
        verify(jwt, forge_hs("{\"alg\":\"HS384\"}", payload, EVP_sha384(), SECRET, strlen(SECRET)),
               NULL),
        AUTH_JWT_E_ALG);
    assert_int_equal(
        verify(jwt, forge_hs("{\"alg\":\"HS512\"}", payload, EVP_sha512(), SECRET, strlen(SECRET)),
               NULL),
        AUTH_JWT_E_ALG);
    /* an RS256 header HMAC'd with the secret */
    assert_int_equal(
        verify(jwt, forge_hs("{\"alg\":\"RS256\"}", payload, EVP_sha256(), SECRET, strlen(SECRET)),
               NULL),
        AUTH_JWT_E_ALG);
    /* a real RS256 token against an HS256 configuration */
    assert_int_equal(verify(jwt, forge_pk("{\"alg\":\"RS256\"}", payload, s_rsa), NULL),
                     AUTH_JWT_E_ALG);
    free(payload);
    auth_jwt_destroy(&jwt);
}

static void
test_hs256_with_public_key_as_secret_is_refused(void **state)
{
    /* The classic confusion: RS256 configured, the attacker HMACs with the
     * public key's PEM text and says HS256. */
    auth_jwt_t *jwt = pem_verifier("RS256", s_rsa_pub, NULL);
    assert_non_null(jwt);
    char *payload = payload_text();
    assert_int_equal(verify(jwt,
                            forge_hs("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, EVP_sha256(),
                                     s_rsa_pub, strlen(s_rsa_pub)),
                            NULL),
                     AUTH_JWT_E_ALG);
    /* The genuine RS256 token passes, one signed by another key does not. */
    assert_int_equal(verify(jwt, forge_pk("{\"alg\":\"RS256\"}", payload, s_rsa), NULL),
                     AUTH_JWT_OK);
    assert_int_equal(verify(jwt, forge_pk("{\"alg\":\"RS256\"}", payload, s_rsa_other), NULL),
                     AUTH_JWT_E_SIGNATURE);
    /* ES256 and none against RS256 */
    assert_int_equal(verify(jwt, forge_pk("{\"alg\":\"ES256\"}", payload, s_ec), NULL),
                     AUTH_JWT_E_ALG);
    assert_int_equal(verify(jwt, forge_hs("{\"alg\":\"none\"}", payload, NULL, NULL, 0), NULL),
                     AUTH_JWT_E_ALG);
    free(payload);
    auth_jwt_destroy(&jwt);
}

static void
test_bad_signature_is_refused(void **state)
{
    auth_jwt_t *jwt = hs_verifier();
    char *payload = payload_text();
    const char *hdr = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    /* another secret */
    assert_int_equal(verify(jwt, forge_hs(hdr, payload, EVP_sha256(), "wrong", 5), NULL),
                     AUTH_JWT_E_SIGNATURE);
    /* empty signature */
    assert_int_equal(verify(jwt, forge_hs(hdr, payload, NULL, NULL, 0), NULL),
                     AUTH_JWT_E_SIGNATURE);
    /* one signature character changed */
    char *tok = forge_hs(hdr, payload, EVP_sha256(), SECRET, strlen(SECRET));
    char *last = tok + strlen(tok) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    assert_int_equal(verify(jwt, tok, NULL), AUTH_JWT_E_SIGNATURE);
    /* the payload changed after signing (sub 7 -> 8) */
    tok = forge_hs(hdr, payload, EVP_sha256(), SECRET, strlen(SECRET));
    char *evil = payload_text();
    char *p = strstr(evil, "\"7\"");
    p[1] = '8';
    char *forged = signing_input(hdr, evil);
    char *sig = strrchr(tok, '.');
    char *mixed = NULL;
    assert_true(asprintf(&mixed, "%s%s", forged, sig) > 0);
    assert_int_equal(verify(jwt, mixed, NULL), AUTH_JWT_E_SIGNATURE);
    free(forged);
    free(evil);
    free(tok);
    free(payload);
    auth_jwt_destroy(&jwt);
}

static void
test_time_claims(void **state)
{
    json_t *c = claims();
    json_object_set_new(c, "exp", json_integer(NOW - 31)); /* past the 30 s leeway */
    assert_int_equal(verify_claims(c), AUTH_JWT_E_EXPIRED);
    c = claims();
    json_object_set_new(c, "exp", json_integer(NOW - 10)); /* within the leeway */
    assert_int_equal(verify_claims(c), AUTH_JWT_OK);
    c = claims();
    json_object_set_new(c, "exp", json_real((double)NOW + 0.5)); /* a real NumericDate */
    assert_int_equal(verify_claims(c), AUTH_JWT_OK);
    c = claims();
    json_object_set_new(c, "nbf", json_integer(NOW + 120));
    assert_int_equal(verify_claims(c), AUTH_JWT_E_NOT_YET_VALID);
    c = claims();
    json_object_set_new(c, "nbf", json_integer(NOW + 20));
    assert_int_equal(verify_claims(c), AUTH_JWT_OK);
    c = claims();
    json_object_set_new(c, "iat", json_integer(NOW + 3600));
    assert_int_equal(verify_claims(c), AUTH_JWT_E_NOT_YET_VALID);
    c = claims();
    json_object_del(c, "exp");
    assert_int_equal(verify_claims(c), AUTH_JWT_E_MALFORMED);
    c = claims();
    json_object_set_new(c, "exp", json_string("tomorrow"));
    assert_int_equal(verify_claims(c), AUTH_JWT_E_MALFORMED);
    c = claims();
    json_object_set_new(c, "nbf", json_true());
    assert_int_equal(verify_claims(c), AUTH_JWT_E_MALFORMED);
}

static void
test_expired_token_still_names_its_user_for_the_audit(void **state)
{
    auth_jwt_t *jwt = hs_verifier();
    json_t *c = claims();
    json_object_set_new(c, "exp", json_integer(NOW - 3600));
    auth_jwt_claims_t out;
    assert_int_equal(verify(jwt, hs_token("HS256", c), &out), AUTH_JWT_E_EXPIRED);
    assert_int_equal(out.user_id, 7);
    /* ... but an unverified signature names nobody */
    char *payload = payload_text();
    assert_int_equal(
        verify(jwt, forge_hs("{\"alg\":\"HS256\"}", payload, EVP_sha256(), "x", 1), &out),
        AUTH_JWT_E_SIGNATURE);
    assert_int_equal(out.user_id, 0);
    free(payload);
    auth_jwt_destroy(&jwt);
}

static void
test_issuer_and_audience(void **state)
{
    json_t *c = claims();
    json_object_set_new(c, "iss", json_string("evil"));
    assert_int_equal(verify_claims(c), AUTH_JWT_E_ISSUER);
    c = claims();
    json_object_del(c, "iss");
    assert_int_equal(verify_claims(c), AUTH_JWT_E_ISSUER);
    c = claims();
    json_object_set_new(c, "iss", json_integer(1));
    assert_int_equal(verify_claims(c), AUTH_JWT_E_ISSUER);
    c = claims();
    json_object_set_new(c, "aud", json_string("someone-else"));
    assert_int_equal(verify_claims(c), AUTH_JWT_E_AUDIENCE);
    c = claims();
    json_object_set_new(c, "aud", json_pack("[s, s]", "a", "b"));
    assert_int_equal(verify_claims(c), AUTH_JWT_E_AUDIENCE);
    c = claims();
    json_object_set_new(c, "aud", json_array());
    assert_int_equal(verify_claims(c), AUTH_JWT_E_AUDIENCE);
    c = claims();
    json_object_del(c, "aud");
    assert_int_equal(verify_claims(c), AUTH_JWT_E_AUDIENCE);
    c = claims();
    json_object_set_new(c, "aud", json_string(AUDIENCE "x")); /* no prefix matching */
    assert_int_equal(verify_claims(c), AUTH_JWT_E_AUDIENCE);
}

static void
test_jti_and_sub_are_required(void **state)
{
    json_t *c = claims();
    json_object_del(c, "jti");
    assert_int_equal(verify_claims(c), AUTH_JWT_E_MALFORMED);
    c = claims();
    json_object_set_new(c, "jti", json_integer(5));
    assert_int_equal(verify_claims(c), AUTH_JWT_E_MALFORMED);
    c = claims();
    json_object_set_new(c, "jti", json_string(""));
    assert_int_equal(verify_claims(c), AUTH_JWT_E_MALFORMED);
    c = claims();
    json_object_del(c, "sub");
    assert_int_equal(verify_claims(c), AUTH_JWT_E_MALFORMED);
    const char *bad_subs[] = {
        "0", "-1", "+1", "01", "abc", "1e3", " 1", "", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_subs / sizeof bad_subs[0]; i++) {
        c = claims();
        json_object_set_new(c, "sub", json_string(bad_subs[i]));
        assert_int_equal(verify_claims(c), AUTH_JWT_E_MALFORMED);
    }
    c = claims();
    json_object_set_new(c, "sub", json_integer(0));
    assert_int_equal(verify_claims(c), AUTH_JWT_E_MALFORMED);
    c = claims();
    json_object_set_new(c, "sub", json_integer(-5));
    assert_int_equal(verify_claims(c), AUTH_JWT_E_MALFORMED);
    c = claims();
    json_object_set_new(c, "sub", json_real(1.5));
    assert_int_equal(verify_claims(c), AUTH_JWT_E_MALFORMED);
}

static void
test_malformed_tokens(void **state)
{
    auth_jwt_t *jwt = hs_verifier();
    auth_jwt_claims_t c;
    const char *garbage[] = {"",
                             "hello",
                             "..",
                             "a.b",
                             "a.b.c.d",
                             ".eyJ9.sig",
                             "eyJhbGciOiJIUzI1NiJ9..sig",
                             "!!!.eyJ9.abc",
                             "eyJhbGciOiJIUzI1NiJ9=.eyJ9.abc",
                             "eyJhbGciOiJIUzI1NiJ9.eyJ9.a b"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
        assert_int_equal(auth_jwt_verify(jwt, garbage[i], &c), AUTH_JWT_E_MALFORMED);
    assert_int_equal(auth_jwt_verify(jwt, NULL, &c), AUTH_JWT_E_MALFORMED);
    char *payload = payload_text();
    const char *headers[] = {
        "not json",
        "[\"alg\",\"HS256\"]",
        "{\"typ\":\"JWT\"}",                      /* no alg */
        "{\"alg\":256}",                          /* alg not a string */
        "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",  /* duplicate key */
        "{\"alg\":\"HS256\",\"typ\":\"JWS\"}",    /* typ libjwt refuses */
        "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", /* crit not supported */
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        assert_int_equal(
            verify(jwt, forge_hs(headers[i], payload, EVP_sha256(), SECRET, strlen(SECRET)), NULL),
            AUTH_JWT_E_MALFORMED);
    const char *payloads[] = {"not json", "[1,2]", "{\"sub\":\"7\",\"sub\":\"8\"}", "\"str\""};
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++)
        assert_int_equal(verify(jwt,
                                forge_hs("{\"alg\":\"HS256\"}", payloads[i], EVP_sha256(), SECRET,
                                         strlen(SECRET)),
                                NULL),
                         AUTH_JWT_E_MALFORMED);
    free(payload);
    auth_jwt_destroy(&jwt);
}

static void
test_size_bound(void **state)
{
    auth_jwt_t *jwt = hs_verifier();
    /* A correctly signed token just under the bound passes... */
    json_t *c = claims();
    json_object_set_new(c, "pad", json_string(""));
    char *tok = hs_token("HS256", json_incref(c));
    size_t room = AUTH_JWT_MAX_TOKEN - strlen(tok);
    free(tok);
    char *pad = calloc(1, room);
    memset(pad, 'x', room * 3 / 4 - 4);
    json_object_set_new(c, "pad", json_string(pad));
    tok = hs_token("HS256", json_incref(c));
    assert_true(strlen(tok) <= AUTH_JWT_MAX_TOKEN);
    assert_int_equal(verify(jwt, tok, NULL), AUTH_JWT_OK);
    /* ... one over it is malformed before any parsing. */
    memset(pad, 'x', room - 1);
    json_object_set_new(c, "pad", json_string(pad));
    tok = hs_token("HS256", c);
    assert_true(strlen(tok) > AUTH_JWT_MAX_TOKEN);
    assert_int_equal(verify(jwt, tok, NULL), AUTH_JWT_E_MALFORMED);
    char *huge = malloc(1 << 20);
    memset(huge, 'A', (1 << 20) - 1);
    huge[(1 << 20) - 1] = '\0';
    assert_int_equal(verify(jwt, huge, NULL), AUTH_JWT_E_MALFORMED);
    free(pad);
    auth_jwt_destroy(&jwt);
}

static void
test_es256_tokens(void **state)
{
    auth_jwt_t *jwt = pem_verifier("ES256", s_ec_pub, NULL);
    assert_non_null(jwt);
    char *payload = payload_text();
    auth_jwt_claims_t c;
    assert_int_equal(verify(jwt, forge_pk("{\"alg\":\"ES256\"}", payload, s_ec), &c), AUTH_JWT_OK);
    assert_int_equal(c.user_id, 7);
    assert_int_equal(verify(jwt, forge_pk("{\"alg\":\"RS256\"}", payload, s_rsa), NULL),
                     AUTH_JWT_E_ALG);
    assert_int_equal(
        verify(jwt,
               forge_hs("{\"alg\":\"HS256\"}", payload, EVP_sha256(), s_ec_pub, strlen(s_ec_pub)),
               NULL),
        AUTH_JWT_E_ALG);
    free(payload);
    auth_jwt_destroy(&jwt);
}

static void
test_sign_round_trip(void **state)
{
    /* HS256: the same secret signs and verifies. */
    auth_jwt_t *jwt = hs_verifier();
    char jti[AUTH_JTI_MAX + 1];
    char *tok = auth_jwt_sign(jwt, 42, 300, jti);
    assert_non_null(tok);
    auth_jwt_claims_t c;
    assert_int_equal(verify(jwt, tok, &c), AUTH_JWT_OK);
    assert_int_equal(c.user_id, 42);
    assert_int_equal(c.exp, NOW + 300);
    assert_string_equal(c.jti, jti);
    assert_int_equal(strlen(jti), 36);
    assert_null(auth_jwt_sign(jwt, 0, 300, NULL));
    auth_jwt_destroy(&jwt);

    /* RS256 and ES256: the private key signs, the public one verifies. */
    const char *algs[] = {"RS256", "ES256"};
    const char *pubs[] = {s_rsa_pub, s_ec_pub}, *privs[] = {s_rsa_priv, s_ec_priv};
    for (int i = 0; i < 2; i++) {
        auth_jwt_t *signer = pem_verifier(algs[i], NULL, privs[i]);
        auth_jwt_t *verifier = pem_verifier(algs[i], pubs[i], NULL);
        assert_non_null(signer);
        assert_non_null(verifier);
        tok = auth_jwt_sign(signer, 9, 60, NULL);
        assert_non_null(tok);
        assert_int_equal(verify(verifier, tok, &c), AUTH_JWT_OK);
        assert_int_equal(c.user_id, 9);
        assert_null(auth_jwt_sign(verifier, 9, 60, NULL)); /* no private key */
        auth_jwt_destroy(&signer);
        auth_jwt_destroy(&verifier);
    }
}

static void
test_bad_configurations_are_refused(void **state)
{
    assert_null(pem_verifier("none", SECRET, NULL));
    assert_null(pem_verifier("HS384", SECRET, NULL));
    assert_null(pem_verifier(NULL, SECRET, NULL));
    assert_null(pem_verifier("HS256", "", NULL));
    assert_null(pem_verifier("RS256", "not a pem", NULL));
    assert_null(pem_verifier("RS256", NULL, NULL));
    assert_null(pem_verifier("RS256", s_ec_pub, NULL));  /* EC key for RS256 */
    assert_null(pem_verifier("ES256", s_rsa_pub, NULL)); /* RSA key for ES256 */
    assert_null(pem_verifier("RS256", s_rsa_pub, "garbage"));
    auth_jwt_t *jwt = pem_verifier("RS256", s_rsa_pub, s_rsa_priv);
    assert_non_null(jwt);
    auth_jwt_destroy(&jwt);
    auth_jwt_destroy(&jwt); /* idempotent */
}

static void
test_read_file(void **state)
{
    char path[] = "/tmp/auth_test_jwt_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\r\n", 8), 8);
    close(fd);
    size_t len = 0;
    unsigned char *buf = auth_jwt_read_file(path, 1, &len);
    assert_non_null(buf);
    assert_int_equal(len, 6);
    assert_string_equal((char *)buf, "s3cret");
    free(buf);
    buf = auth_jwt_read_file(path, 0, &len);
    assert_int_equal(len, 8);
    free(buf);
    unlink(path);
    assert_null(auth_jwt_read_file(path, 1, &len));
}

/* ---- fixtures ----------------------------------------------------------- */

/* The PEM text of pkey (public or private); caller frees. */
static char *
pem_of(EVP_PKEY *pkey, int private_key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (private_key)
        PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_bio_PUBKEY(bio, pkey);
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    char *out = malloc((size_t)len + 1); /* the BIO's data has no NUL */
    assert_non_null(out);
    memcpy(out, data, (size_t)len);
    out[len] = '\0';
    BIO_free(bio);
    return out;
}

static int
setup(void **state)
{
    hm_clock_set_fake(NOW * 1000);
    s_rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    s_rsa_other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    s_ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!s_rsa || !s_rsa_other || !s_ec)
        return -1;
    s_rsa_pub = pem_of(s_rsa, 0);
    s_rsa_priv = pem_of(s_rsa, 1);
    s_ec_pub = pem_of(s_ec, 0);
    s_ec_priv = pem_of(s_ec, 1);
    return 0;
}

static int
teardown(void **state)
{
    EVP_PKEY_free(s_rsa);
    EVP_PKEY_free(s_rsa_other);
    EVP_PKEY_free(s_ec);
    free(s_rsa_pub);
    free(s_rsa_priv);
    free(s_ec_pub);
    free(s_ec_priv);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_hs256_token_is_accepted),
        cmocka_unit_test(test_error_codes_are_the_spec_strings),
        cmocka_unit_test(test_alg_none_and_other_algs_are_refused),
        cmocka_unit_test(test_hs256_with_public_key_as_secret_is_refused),
        cmocka_unit_test(test_bad_signature_is_refused),
        cmocka_unit_test(test_time_claims),
        cmocka_unit_test(test_expired_token_still_names_its_user_for_the_audit),
        cmocka_unit_test(test_issuer_and_audience),
        cmocka_unit_test(test_jti_and_sub_are_required),
        cmocka_unit_test(test_malformed_tokens),
        cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_es256_tokens),
        cmocka_unit_test(test_sign_round_trip),
        cmocka_unit_test(test_bad_configurations_are_refused),
        cmocka_unit_test(test_read_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
