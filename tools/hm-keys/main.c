/*
 * hm-keys - generates CURVE key pairs for the bus in czmq's zcert format.
 *
 *   hm-keys [--keys-dir DIR] [--keys-force] [NAME ...]
 *
 * For each NAME (default: broker and one per process kind) writes
 * DIR/NAME.cert (public key) and DIR/NAME.cert_secret (both keys, mode
 * 0600), and copies every public cert except the broker's into DIR/clients,
 * the broker's allow-list (its curve_clients). Existing pairs are kept
 * unless --keys-force, and then the allow-list is not touched (a key removed from
 * it to revoke it stays out). Prints one line per file written; never a key.
 *
 * Exit codes: 0 ok, 1 failure, 2 bad usage.
 */
#include <ctype.h>
#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_config.h"
#include "hm_log.h"

static const hm_cfg_opt_t s_opts[] = {
    {"keys_dir", HM_CFG_STR, "var/keys", 0, 0, "directory for the key pairs (created, mode 0700)"},
    {"keys_force", HM_CFG_BOOL, "false", 0, 0, "replace key pairs that already exist"},
    {"log_level", HM_CFG_STR, "warn", 0, 0, "error, warn, info or debug"},
    {NULL, 0, NULL, 0, 0, NULL},
};

#define USAGE                                                                                      \
    "hm-keys [options] [NAME ...]\n"                                                               \
    "  Writes DIR/NAME.cert (public) and DIR/NAME.cert_secret (secret, 0600) per NAME\n"           \
    "  and DIR/clients/NAME.cert for every NAME but broker (the broker's allow-list).\n"           \
    "  Default NAMEs: broker edge auth health chat notify scheduler bus"

#define S_PATH_MAX 1024

static const char *s_default_names[] = {"broker", "edge",      "auth", "health", "chat",
                                        "notify", "scheduler", "bus",  NULL};

/* A NAME must be a plain file name: letters, digits, '-', '_', '.'. */
static bool
s_name_ok(const char *name)
{
    if (!*name || *name == '.' || strlen(name) > 64)
        return false;
    for (const char *c = name; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.'))
            return false;
    return true;
}

/* mkdir with mode unless it exists as a directory. Returns 0 or -1. */
static int
s_mkdir(const char *path, mode_t mode)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : -1;
    if (zsys_dir_create("%s", path) != 0)
        return -1;
    return chmod(path, mode);
}

/* Writes the pair for name (or keeps it); copies the public cert to the
 * allow-list. Returns 0 or -1 (message on stderr). */
static int
s_make(const char *dir, const char *name, bool force)
{
    char pub[S_PATH_MAX], sec[S_PATH_MAX], allow[S_PATH_MAX];
    snprintf(pub, sizeof pub, "%s/%s.cert", dir, name);
    snprintf(sec, sizeof sec, "%s/%s.cert_secret", dir, name);
    snprintf(allow, sizeof allow, "%s/clients/%s.cert", dir, name);
    zcert_t *cert = NULL;
    if (!force && access(sec, F_OK) == 0) {
        cert = zcert_load(pub);
        if (!cert) {
            fprintf(stderr, "hm-keys: %s exists but does not load (use --keys-force)\n", sec);
            return -1;
        }
        printf("kept %s\n", sec);
        zcert_destroy(&cert);
        return 0; /* the allow-list is left as it is (a removed key stays out) */
    } else {
        cert = zcert_new();
        zcert_set_meta(cert, "name", "%s", name);
        zcert_set_meta(cert, "created-by", "hm-keys");
        zsys_file_mode_private();
        int rc = zcert_save(cert, pub);
        zsys_file_mode_default();
        if (rc != 0 || chmod(sec, 0600) != 0 || chmod(pub, 0644) != 0) {
            fprintf(stderr, "hm-keys: cannot write %s: %s\n", pub, strerror(errno));
            zcert_destroy(&cert);
            return -1;
        }
        printf("wrote %s %s\n", pub, sec);
    }
    int rc = 0;
    if (strcmp(name, "broker") != 0) {
        rc = zcert_save_public(cert, allow);
        if (rc == 0)
            rc = chmod(allow, 0644);
        if (rc != 0)
            fprintf(stderr, "hm-keys: cannot write %s: %s\n", allow, strerror(errno));
        else
            printf("wrote %s\n", allow);
    }
    zcert_destroy(&cert);
    return rc;
}

int
main(int argc, char **argv)
{
    hm_config_t *cfg = hm_config_new("keys", USAGE, s_opts);
    int first = argc;
    int rc = hm_config_start(cfg, argc, argv, "hm-keys", &first);
    if (rc != 0) {
        hm_config_destroy(&cfg);
        return rc == 1 ? 0 : 2;
    }
    const char **names = first < argc ? (const char **)argv + first : s_default_names;
    for (int i = 0; names[i]; i++)
        if (!s_name_ok(names[i])) {
            fprintf(stderr, "hm-keys: bad NAME '%s' (letters, digits, - _ . only)\n", names[i]);
            hm_config_destroy(&cfg);
            return 2;
        }
    if (!zsys_has_curve()) {
        fprintf(stderr, "hm-keys: this libzmq has no CURVE support\n");
        hm_config_destroy(&cfg);
        return 1;
    }
    const char *dir = hm_config_str(cfg, "keys_dir");
    char clients[S_PATH_MAX];
    snprintf(clients, sizeof clients, "%s/clients", dir);
    rc = 0;
    if (s_mkdir(dir, 0700) != 0 || s_mkdir(clients, 0755) != 0) {
        fprintf(stderr, "hm-keys: cannot create %s: %s\n", clients, strerror(errno));
        rc = 1;
    }
    bool force = hm_config_bool(cfg, "keys_force");
    for (int i = 0; rc == 0 && names[i]; i++)
        if (s_make(dir, names[i], force) != 0)
            rc = 1;
    hm_config_destroy(&cfg);
    return rc;
}
