/*
 * auth_cli.c - hm-auth's subcommands: users, care links, tokens,
 * revocation; and the JWT keys and database path from the configuration.
 */
#include "auth_cli.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_db.h"
#include "auth_session.h"
#include "hm_bus.h"
#include "hm_db.h"
#include "hm_log.h"
#include "hm_mdp.h"
#include "hm_proto.h"

#define S_MIN_SECRET 32 /* bytes: RFC 7518 wants an HS256 key of at least 256 bits */

/* One --flag a subcommand accepts, and where its value goes. */
typedef struct {
    const char *name; /* without the dashes; NULL ends the list */
    const char **out; /* set to the value (borrowed from argv) */
} s_flag_t;

/* ---- configuration ---------------------------------------------------- */

const char *
auth_cli_db_path(hm_config_t *cfg, char *buf, size_t len)
{
    const char *db = hm_config_str(cfg, "db");
    int n = *db ? snprintf(buf, len, "%s", db)
                : snprintf(buf, len, "%s/auth.db", hm_config_str(cfg, "data_dir"));
    return n >= 0 && (size_t)n < len ? buf : NULL;
}

/* Reads the HS256 secret from jwt_secret or jwt_secret_file. Returns it
 * (caller cleanses and frees) or NULL (reason printed). */
static unsigned char *
s_read_secret(hm_config_t *cfg, size_t *len)
{
    const char *secret = hm_config_str(cfg, "jwt_secret");
    const char *file = hm_config_str(cfg, "jwt_secret_file");
    if (*secret && *file) {
        fprintf(stderr, "hm-auth: set only one of jwt_secret and jwt_secret_file\n");
        return NULL;
    }
    if (!*secret && !*file) {
        fprintf(stderr, "hm-auth: no JWT secret configured: set --jwt-secret-file FILE (or "
                        "HM_JWT_SECRET) for HS256, or choose RS256/ES256 with key files\n");
        return NULL;
    }
    unsigned char *key = NULL;
    if (*file) {
        key = auth_jwt_read_file(file, 1, len);
    } else {
        key = (unsigned char *)strdup(secret);
        *len = key ? strlen(secret) : 0;
    }
    if (!key) {
        fprintf(stderr, "hm-auth: cannot read the JWT secret file %s\n", file);
        return NULL;
    }
    if (*len == 0) {
        fprintf(stderr, "hm-auth: the JWT secret is empty\n");
        free(key);
        return NULL;
    }
    if (*len < S_MIN_SECRET)
        hm_log_warn("jwt_secret_short", "bytes=%zu recommended_min=%d", *len, S_MIN_SECRET);
    return key;
}

/* Reads the PEM key file named by option opt. Returns it or NULL (reason
 * printed). */
static unsigned char *
s_read_pem(hm_config_t *cfg, const char *opt, const char *alg, size_t *len)
{
    const char *path = hm_config_str(cfg, opt);
    if (!*path) {
        fprintf(stderr, "hm-auth: %s needs %s (PEM)\n", alg, opt);
        return NULL;
    }
    unsigned char *key = auth_jwt_read_file(path, 0, len);
    if (!key)
        fprintf(stderr, "hm-auth: cannot read %s %s\n", opt, path);
    return key;
}

auth_jwt_t *
auth_cli_jwt_new(hm_config_t *cfg, bool for_signing)
{
    const char *alg = hm_config_str(cfg, "jwt_alg");
    auth_jwt_cfg_t jc = {.alg = alg,
                         .issuer = hm_config_str(cfg, "issuer"),
                         .audience = hm_config_str(cfg, "audience"),
                         .leeway_s = (int)hm_config_int(cfg, "leeway_s")};
    if (!*jc.issuer || !*jc.audience) {
        fprintf(stderr, "hm-auth: issuer and audience must not be empty\n");
        return NULL;
    }
    unsigned char *key = NULL;
    size_t len = 0;
    if (strcmp(alg, "HS256") == 0) {
        key = s_read_secret(cfg, &len);
        jc.key = key;
        jc.key_len = len;
    } else if (strcmp(alg, "RS256") == 0 || strcmp(alg, "ES256") == 0) {
        const char *opt = for_signing ? "jwt_private_key_file" : "jwt_public_key_file";
        key = s_read_pem(cfg, opt, alg, &len);
        jc.key = for_signing ? NULL : key;
        jc.key_len = for_signing ? 0 : len;
        jc.sign_key = for_signing ? key : NULL;
        jc.sign_key_len = for_signing ? len : 0;
    } else {
        fprintf(stderr, "hm-auth: jwt_alg must be HS256, RS256 or ES256\n");
        return NULL;
    }
    if (!key)
        return NULL;
    auth_jwt_t *jwt = auth_jwt_new(&jc);
    OPENSSL_cleanse(key, len);
    free(key);
    if (!jwt)
        fprintf(stderr, "hm-auth: the configured JWT key does not suit jwt_alg %s\n", alg);
    return jwt;
}

/* ---- argument helpers --------------------------------------------------- */

/* Splits argv into the flags of the list and up to maxpos operands.
 * Returns 0, or -1 with the reason printed. */
static int
s_parse(const char *cmd, int argc, char **argv, const s_flag_t *flags, char **pos, int maxpos,
        int *npos)
{
    *npos = 0;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0 || !argv[i][2]) {
            if (*npos >= maxpos) {
                fprintf(stderr, "hm-auth: %s: unexpected argument '%s'\n", cmd, argv[i]);
                return -1;
            }
            pos[(*npos)++] = argv[i];
            continue;
        }
        const char *name = argv[i] + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const s_flag_t *f = flags;
        while (f->name && (strlen(f->name) != len || strncmp(f->name, name, len) != 0))
            f++;
        if (!f->name || (!eq && i + 1 >= argc)) {
            fprintf(stderr, "hm-auth: %s: %s option %s\n", cmd,
                    f->name ? "no value for" : "unknown", argv[i]);
            return -1;
        }
        *f->out = eq ? eq + 1 : argv[++i];
    }
    return 0;
}

/* Parses a positive decimal id (what `what` names, for the message).
 * Returns 0 or -1 (printed). */
static int
s_parse_id(const char *text, const char *what, int64_t *out)
{
    char *end = NULL;
    long long v = text && *text >= '1' && *text <= '9' ? strtoll(text, &end, 10) : 0;
    if (v <= 0 || v == LLONG_MAX || !end || *end) {
        fprintf(stderr, "hm-auth: %s must be a positive integer\n", what);
        return -1;
    }
    *out = v;
    return 0;
}

/* Opens the database of cfg. NULL with the reason printed. */
static sqlite3 *
s_open_db(hm_config_t *cfg)
{
    char path[PATH_MAX];
    sqlite3 *db = auth_cli_db_path(cfg, path, sizeof path) ? auth_db_open(path) : NULL;
    if (!db)
        fprintf(stderr, "hm-auth: cannot open the database\n");
    return db;
}

/* Reads user id, printing why when it is missing or disabled. Returns 1
 * (found and active), 0 (printed) or -1. */
static int
s_get_user(sqlite3 *db, int64_t id, auth_user_t *user)
{
    int found = auth_db_user_get(db, id, user);
    if (found == 0)
        fprintf(stderr, "hm-auth: no user %lld\n", (long long)id);
    else if (found == 1 && !user->active) {
        fprintf(stderr, "hm-auth: user %lld is disabled\n", (long long)id);
        return 0;
    }
    return found;
}

/* ---- subcommands -------------------------------------------------------- */

static int
s_user_add(hm_config_t *cfg, int argc, char **argv)
{
    const char *name = NULL, *role = NULL, *id_text = NULL;
    const s_flag_t flags[] = {{"name", &name}, {"role", &role}, {"id", &id_text}, {NULL, NULL}};
    int npos = 0;
    int64_t id = 0;
    if (s_parse("user add", argc, argv, flags, NULL, 0, &npos) != 0)
        return 2;
    if (!name || !*name || strlen(name) > AUTH_NAME_MAX) {
        fprintf(stderr, "hm-auth: user add needs --name NAME (1 to %d bytes)\n", AUTH_NAME_MAX);
        return 2;
    }
    if (auth_role_parse(role) == AUTH_ROLE_INVALID) {
        fprintf(stderr,
                "hm-auth: --role must be patient, caregiver, clinician, admin or service\n");
        return 2;
    }
    if (id_text && s_parse_id(id_text, "--id", &id) != 0)
        return 2;
    sqlite3 *db = s_open_db(cfg);
    if (!db)
        return 1;
    auth_user_t existing;
    int rc = id > 0 ? auth_db_user_get(db, id, &existing) : 0;
    if (rc == 1)
        fprintf(stderr, "hm-auth: user %lld exists already\n", (long long)id);
    if (rc == 0 && auth_db_user_add(db, name, role, id, &id) == 0)
        printf("%lld\n", (long long)id);
    else
        rc = 1;
    hm_db_close(&db);
    return rc == 0 ? 0 : 1;
}

static int
s_user_list(hm_config_t *cfg, int argc, char **argv)
{
    const s_flag_t flags[] = {{NULL, NULL}};
    int npos = 0;
    if (s_parse("user list", argc, argv, flags, NULL, 0, &npos) != 0)
        return 2;
    sqlite3 *db = s_open_db(cfg);
    json_t *list = db ? auth_db_user_list(db) : NULL;
    size_t i;
    json_t *user;
    json_array_foreach(list, i, user)
    {
        char *line = json_dumps(user, JSON_COMPACT | JSON_SORT_KEYS);
        if (line)
            printf("%s\n", line);
        free(line);
    }
    int rc = list ? 0 : 1;
    json_decref(list);
    hm_db_close(&db);
    return rc;
}

/* How long a fresh PUB socket waits for its connection before publishing. */
#define AUTH_CLI_PUB_SETTLE_MS 300

/* Tells every edge to close the live connections of a user who was just
 * disabled: a "disconnect" event on ctl.user.<id>. PUB drops what it sends
 * before its connection is up, so wait a moment first and linger after. */
static void
s_disconnect_over_bus(hm_config_t *cfg, int64_t id)
{
    zsock_t *pub = hm_bus_pub_new(hm_config_str(cfg, "events_in"));
    hm_envelope_t *ev = hm_envelope_new("disconnect");
    if (pub && ev) {
        char topic[HM_TOPIC_MAX];
        snprintf(topic, sizeof topic, HM_TOPIC_CTL_USER_FMT, (long long)id);
        ev->user_id = id;
        hm_envelope_set_data(ev, json_pack("{s:s}", "reason", "user_disabled"));
        zclock_sleep(AUTH_CLI_PUB_SETTLE_MS);
        hm_bus_publish(pub, topic, ev);
        zsock_set_linger(pub, 1000);
    }
    hm_envelope_destroy(&ev);
    zsock_destroy(&pub);
}

/* user disable ID / user enable ID */
static int
s_user_set_active(hm_config_t *cfg, int argc, char **argv, bool active)
{
    const s_flag_t flags[] = {{NULL, NULL}};
    char *pos[1];
    int npos = 0;
    int64_t id = 0;
    const char *cmd = active ? "user enable" : "user disable";
    if (s_parse(cmd, argc, argv, flags, pos, 1, &npos) != 0 || npos != 1 ||
        s_parse_id(pos[0], "ID", &id) != 0) {
        fprintf(stderr, "hm-auth: usage: %s ID\n", cmd);
        return 2;
    }
    sqlite3 *db = s_open_db(cfg);
    int rc = db ? auth_db_user_set_active(db, id, active) : -1;
    if (rc == 0)
        fprintf(stderr, "hm-auth: no user %lld\n", (long long)id);
    hm_db_close(&db);
    if (rc == 1 && !active)
        s_disconnect_over_bus(cfg, id);
    return rc == 1 ? 0 : 1;
}

static int
s_user(hm_config_t *cfg, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";
    if (strcmp(sub, "add") == 0)
        return s_user_add(cfg, argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0)
        return s_user_list(cfg, argc - 1, argv + 1);
    if (strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0)
        return s_user_set_active(cfg, argc - 1, argv + 1, strcmp(sub, "enable") == 0);
    fprintf(stderr, "hm-auth: user takes add, list, disable or enable (see --help)\n");
    return 2;
}

/* Checks that a link from member to patient makes sense. Returns 0, or 1
 * (printed) or -1. */
static int
s_check_link(sqlite3 *db, int64_t member_id, int64_t patient_id)
{
    auth_user_t member, patient;
    int rc = s_get_user(db, member_id, &member);
    if (rc == 1)
        rc = s_get_user(db, patient_id, &patient);
    if (rc != 1)
        return rc < 0 ? -1 : 1;
    auth_role_t role = auth_role_parse(member.role);
    if (role != AUTH_ROLE_CAREGIVER && role != AUTH_ROLE_CLINICIAN) {
        fprintf(stderr, "hm-auth: user %lld is a %s, not a caregiver or clinician\n",
                (long long)member_id, member.role);
        return 1;
    }
    if (auth_role_parse(patient.role) != AUTH_ROLE_PATIENT) {
        fprintf(stderr, "hm-auth: user %lld is not a patient\n", (long long)patient_id);
        return 1;
    }
    return 0;
}

static int
s_link(hm_config_t *cfg, int argc, char **argv)
{
    const s_flag_t flags[] = {{NULL, NULL}};
    char *pos[2];
    int npos = 0;
    int64_t member_id = 0, patient_id = 0;
    if (s_parse("link", argc, argv, flags, pos, 2, &npos) != 0 || npos != 2 ||
        s_parse_id(pos[0], "MEMBER_ID", &member_id) != 0 ||
        s_parse_id(pos[1], "PATIENT_ID", &patient_id) != 0) {
        fprintf(stderr, "hm-auth: usage: link MEMBER_ID PATIENT_ID\n");
        return 2;
    }
    sqlite3 *db = s_open_db(cfg);
    int rc = db ? s_check_link(db, member_id, patient_id) : -1;
    if (rc == 0)
        rc = auth_db_link_add(db, member_id, patient_id);
    hm_db_close(&db);
    return rc == 0 ? 0 : 1;
}

static int
s_token(hm_config_t *cfg, int argc, char **argv)
{
    const char *user_text = NULL, *ttl_text = NULL;
    const s_flag_t flags[] = {{"user", &user_text}, {"ttl", &ttl_text}, {NULL, NULL}};
    int npos = 0;
    int64_t user_id = 0, ttl = AUTH_CLI_TTL_DEFAULT;
    if (s_parse("token", argc, argv, flags, NULL, 0, &npos) != 0 ||
        s_parse_id(user_text, "--user", &user_id) != 0 ||
        (ttl_text && s_parse_id(ttl_text, "--ttl", &ttl) != 0))
        return 2;
    if (ttl > AUTH_CLI_TTL_MAX) {
        fprintf(stderr, "hm-auth: --ttl is at most %d seconds\n", AUTH_CLI_TTL_MAX);
        return 2;
    }
    auth_jwt_t *jwt = auth_cli_jwt_new(cfg, true);
    if (!jwt)
        return 2;
    sqlite3 *db = s_open_db(cfg);
    auth_user_t user;
    int rc = db ? s_get_user(db, user_id, &user) : -1;
    char *token = rc == 1 ? auth_jwt_sign(jwt, user_id, ttl, NULL) : NULL;
    if (token)
        printf("%s\n", token);
    free(token);
    auth_jwt_destroy(&jwt);
    hm_db_close(&db);
    return token ? 0 : 1;
}

/* Asks a running hm-auth to revoke jti, so that it tells the edges. Returns
 * true when it acknowledged within AUTH_CLI_REVOKE_TIMEOUT_MS. */
static bool
s_revoke_over_bus(hm_config_t *cfg, const char *jti)
{
    hm_mdp_client_t *client =
        hm_mdp_client_new(hm_config_str(cfg, "requests"), AUTH_CLI_REVOKE_TIMEOUT_MS, 0);
    hm_envelope_t *req = hm_envelope_new(HM_VERB_AUTH_REVOKE), *rep = NULL;
    bool ok = false;
    if (client && req && hm_mdp_client_mmi_service(client, HM_SVC_AUTH) == 200) {
        hm_envelope_set_data(req, json_pack("{s:s}", "jti", jti));
        ok = hm_mdp_client_request(client, HM_SVC_AUTH, req, &rep) == 0 &&
             strcmp(rep->type, HM_MSG_ACK) == 0;
    }
    hm_envelope_destroy(&req);
    hm_envelope_destroy(&rep);
    hm_mdp_client_destroy(&client);
    return ok;
}

static int
s_revoke(hm_config_t *cfg, int argc, char **argv)
{
    const s_flag_t flags[] = {{NULL, NULL}};
    char *pos[1];
    int npos = 0;
    if (s_parse("revoke", argc, argv, flags, pos, 1, &npos) != 0 || npos != 1 || !*pos[0] ||
        strlen(pos[0]) > AUTH_JTI_MAX) {
        fprintf(stderr, "hm-auth: usage: revoke JTI\n");
        return 2;
    }
    sqlite3 *db = s_open_db(cfg);
    auth_session_t *sessions = db ? auth_session_new(db, 1, 0) : NULL;
    int rc = sessions ? auth_db_revoke(db, pos[0], auth_session_jti_exp(sessions, pos[0])) : -1;
    auth_session_destroy(&sessions);
    hm_db_close(&db);
    if (rc != 0)
        return 1;
    bool notified = s_revoke_over_bus(cfg, pos[0]);
    if (!notified)
        fprintf(stderr, "hm-auth: revocation stored (new verifications are refused); no running "
                        "hm-auth answered, so live connections were not told to close\n");
    json_t *out = json_pack("{s:s, s:b}", "jti", pos[0], "notified", notified);
    char *line = out ? json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (line)
        printf("%s\n", line);
    free(line);
    json_decref(out);
    return 0;
}

int
auth_cli_run(hm_config_t *cfg, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (strcmp(cmd, "user") == 0)
        return s_user(cfg, argc - 1, argv + 1);
    if (strcmp(cmd, "link") == 0)
        return s_link(cfg, argc - 1, argv + 1);
    if (strcmp(cmd, "token") == 0)
        return s_token(cfg, argc - 1, argv + 1);
    if (strcmp(cmd, "revoke") == 0)
        return s_revoke(cfg, argc - 1, argv + 1);
    fprintf(stderr, "hm-auth: unknown command '%s' (user, link, token or revoke; see --help)\n",
            cmd);
    return 2;
}
