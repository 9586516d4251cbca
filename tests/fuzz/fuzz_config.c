/*
 * fuzz_config.c - libFuzzer target for the configuration loader
 * (libcommon/hm_config.c): the ZPL file read through czmq's zconfig, then
 * the HM_* environment, then the flags, over one option table of every type.
 *
 * Input: the config file's bytes up to the first NUL; after it, one word a
 * line: "HM_NAME=value" sets that environment variable for this run (unset
 * afterwards), anything else is an argv word (at most 16). The loader is
 * always given "--config <scratch file>" first; words naming --config
 * themselves are dropped (they could name a file that blocks on read).
 *
 * Promises checked (abort on a broken one): hm_config_load returns -1, 0
 * or 1; after 0 every value has its type and lies within its bounds; a
 * second load of the same input gives the same result and the same values
 * (each load starts again from the defaults).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define S_MAX_WORDS 16
#define S_MAX_ENV 8

static const hm_cfg_opt_t s_opts[] = {
    HM_CFG_BUS_OPTS,
    {"port", HM_CFG_INT, "8000", 0, 65535, "a bounded int"},
    {"edge_id", HM_CFG_STR, "", 0, 0, "a string defaulting to empty"},
    {"max_connections", HM_CFG_INT, "1000", 1, 1000000, "another bounded int"},
    {"offset", HM_CFG_INT, "-5", 0, 0, "an unbounded int"},
    {"rate", HM_CFG_DOUBLE, "20", 0.1, 100000, "a bounded double"},
    {"factor", HM_CFG_DOUBLE, "2.5", 0, 0, "an unbounded double"},
    {"tls", HM_CFG_BOOL, "false", 0, 0, "a bool"},
    {"verbose", HM_CFG_BOOL, NULL, 0, 0, "a bool defaulting to false"},
    {"origins", HM_CFG_STR, NULL, 0, 0, "a string defaulting to NULL"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static char s_path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(s_path, sizeof s_path, "%s/hm-fuzz-config-XXXXXX", dir);
    int fd = mkstemp(s_path);
    if (fd < 0)
        abort();
    close(fd);
    /* The loader's messages go to stdio's stderr: send them nowhere. The
     * sanitizers and libFuzzer write to file descriptor 2, which stays. */
    FILE *null = fopen("/dev/null", "w");
    if (null)
        stderr = null;
    if (!freopen("/dev/null", "w", stdout)) /* --help output */
        abort();
    return 0;
}

typedef struct {
    int rc;
    char *copy[sizeof s_opts / sizeof s_opts[0]];
} s_result_t;

static void
s_check_and_record(hm_config_t *cfg, int rc, s_result_t *r)
{
    if (rc < -1 || rc > 1)
        abort();
    r->rc = rc;
    for (int i = 0; s_opts[i].name; i++) {
        const hm_cfg_opt_t *o = &s_opts[i];
        const char *text = hm_config_str(cfg, o->name);
        if (!text)
            abort();
        r->copy[i] = rc == 0 ? strdup(text) : NULL;
        if (rc != 0)
            continue;
        if (o->type == HM_CFG_INT) {
            long long v = hm_config_int(cfg, o->name);
            if (o->min != o->max && ((double)v < o->min || (double)v > o->max))
                abort();
        } else if (o->type == HM_CFG_DOUBLE) {
            double v = hm_config_double(cfg, o->name);
            if (v != v || (o->min != o->max && (v < o->min || v > o->max)))
                abort();
        } else if (o->type == HM_CFG_BOOL) {
            (void)hm_config_bool(cfg, o->name);
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t file_len = nul ? (size_t)(nul - data) : size;
    FILE *f = fopen(s_path, "w");
    if (!f)
        abort();
    if (file_len && fwrite(data, 1, file_len, f) != file_len)
        abort();
    fclose(f);

    /* The words after the NUL. */
    char *rest = NULL;
    char *argv[S_MAX_WORDS + 4];
    char *envs[S_MAX_ENV];
    int argc = 0, nenv = 0;
    argv[argc++] = "fuzz_config";
    argv[argc++] = "--config";
    argv[argc++] = s_path;
    if (nul) {
        size_t n = size - file_len - 1;
        rest = malloc(n + 1);
        if (!rest)
            abort();
        memcpy(rest, nul + 1, n);
        rest[n] = '\0';
        char *save = NULL;
        for (char *w = strtok_r(rest, "\n", &save); w; w = strtok_r(NULL, "\n", &save)) {
            char *eq = strchr(w, '=');
            if (strncmp(w, "HM_", 3) == 0 && eq && eq > w + 3) {
                if (nenv == S_MAX_ENV || strncmp(w, "HM_CONFIG=", 10) == 0)
                    continue;
                *eq = '\0';
                if (setenv(w, eq + 1, 1) == 0)
                    envs[nenv++] = w;
            } else if (argc < S_MAX_WORDS + 3 && !strstr(w, "config")) {
                argv[argc++] = w;
            }
        }
    }
    argv[argc] = NULL;

    hm_config_t *cfg = hm_config_new("edge", "fuzz_config [options]", s_opts);
    if (!cfg)
        abort();
    s_result_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    int first = -1;
    s_check_and_record(cfg, hm_config_load(cfg, argc, argv, &first), &a);
    if (first < 1 || first > argc)
        abort();
    s_check_and_record(cfg, hm_config_load(cfg, argc, argv, NULL), &b);
    if (a.rc != b.rc)
        abort();
    for (int i = 0; s_opts[i].name; i++) {
        if ((a.copy[i] == NULL) != (b.copy[i] == NULL) ||
            (a.copy[i] && strcmp(a.copy[i], b.copy[i]) != 0))
            abort();
        free(a.copy[i]);
        free(b.copy[i]);
    }
    hm_config_destroy(&cfg);
    for (int i = 0; i < nenv; i++)
        unsetenv(envs[i]);
    free(rest);
    return 0;
}
