/*
 * test_config.c - hm_config: default < ZPL file < HM_* environment < flags,
 * validation at every layer, --help, first_arg, common/ fallback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "hm_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const hm_cfg_opt_t opts[] = {
    HM_CFG_BUS_OPTS,
    {"max_conns", HM_CFG_INT, "1000", 1, 100000, "maximum WebSocket connections"},
    {"heartbeat_s", HM_CFG_DOUBLE, "30", 0.5, 3600, "heartbeat interval in seconds"},
    {"tls", HM_CFG_BOOL, "false", 0, 0, "serve wss and https"},
    {"offset", HM_CFG_INT, "-5", 0, 0, "any integer (no bounds)"},
    {"data_dir", HM_CFG_STR, "./var", 0, 0, "data directory"},
    {"label", HM_CFG_STR, NULL, 0, 0, "free text"},
    {NULL, 0, NULL, 0, 0, NULL},
};

static const char *const env_vars[] = {
    "HM_CONFIG", "HM_EVENTS_IN", "HM_MAX_CONNS", "HM_HEARTBEAT_S", "HM_TLS",
    "HM_OFFSET", "HM_DATA_DIR",  "HM_LABEL",     "HM_LOG_LEVEL",
};

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

/* Per test: a config, a scratch directory and a captured stream. */
typedef struct {
    hm_config_t *cfg; /* section "edge" */
    char dir[64];     /* scratch directory for ZPL files */
    char file[128];   /* dir/hm.cfg */
    int saved_fd;     /* the real fd while captured, -1 otherwise */
    int captured_fd;  /* 1 or 2 */
    FILE *sink;       /* where the captured fd points */
} fixture_t;

static int
setup(void **state)
{
    for (size_t i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++)
        unsetenv(env_vars[i]);
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->cfg = hm_config_new("edge", "hm-edge [options]", opts);
    assert_non_null(fx->cfg);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_config_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->file, sizeof fx->file, "%s/hm.cfg", fx->dir);
    fx->saved_fd = -1;
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *fx = *state;
    hm_config_destroy(&fx->cfg);
    unlink(fx->file);
    rmdir(fx->dir);
    for (size_t i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++)
        unsetenv(env_vars[i]);
    free(fx);
    return 0;
}

static void
write_file(fixture_t *fx, const char *text)
{
    FILE *f = fopen(fx->file, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Sends fd (1 or 2) into a temporary file until capture_end. */
static void
capture_start(fixture_t *fx, int fd)
{
    fflush(stdout);
    fx->sink = tmpfile();
    assert_non_null(fx->sink);
    fx->captured_fd = fd;
    fx->saved_fd = dup(fd);
    assert_true(fx->saved_fd >= 0);
    assert_int_equal(dup2(fileno(fx->sink), fd), fd);
}

/* Restores the fd. Returns what was written (caller frees). */
static char *
capture_end(fixture_t *fx)
{
    fflush(stdout);
    assert_int_equal(dup2(fx->saved_fd, fx->captured_fd), fx->captured_fd);
    close(fx->saved_fd);
    fx->saved_fd = -1;
    assert_int_equal(fseek(fx->sink, 0, SEEK_END), 0);
    long size = ftell(fx->sink);
    assert_true(size >= 0);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    rewind(fx->sink);
    assert_int_equal(fread(text, 1, (size_t)size, fx->sink), (size_t)size);
    fclose(fx->sink);
    return text;
}

/* Loads with stderr captured; returns the rc and sets *err (caller frees). */
static int
load_capturing(fixture_t *fx, int argc, char **argv, int *first, char **err)
{
    capture_start(fx, 2);
    int rc = hm_config_load(fx->cfg, argc, argv, first);
    *err = capture_end(fx);
    return rc;
}

static void
assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("\"%s\" does not contain \"%s\"", text, part);
}

static void
test_config_layers_in_normal_use(void **state)
{
    fixture_t *fx = *state;
    write_file(fx, "common\n"
                   "    events_in = \"tcp://10.0.0.1:5550\"\n"
                   "edge\n"
                   "    max_conns = 500\n"
                   "    tls = yes\n");
    setenv("HM_HEARTBEAT_S", "12.5", 1);
    char *argv[] = {"hm-edge", "--config", fx->file, "--max-conns", "800", "serve", "x", NULL};
    int first = -1;
    assert_int_equal(hm_config_load(fx->cfg, ARGC(argv), argv, &first), 0);
    assert_int_equal(first, 5);
    assert_string_equal(hm_config_str(fx->cfg, "events_in"), "tcp://10.0.0.1:5550"); /* file */
    assert_int_equal(hm_config_int(fx->cfg, "max_conns"), 800);                      /* flag */
    assert_true(hm_config_bool(fx->cfg, "tls"));                                     /* file */
    assert_true(hm_config_double(fx->cfg, "heartbeat_s") == 12.5);                   /* env */
    assert_string_equal(hm_config_str(fx->cfg, "requests"), "tcp://127.0.0.1:5555"); /* default */
    assert_int_equal(hm_config_int(fx->cfg, "offset"), -5);
    assert_string_equal(hm_config_str(fx->cfg, "label"), ""); /* NULL default */
}

static void
test_config_each_layer_overrides_the_one_before(void **state)
{
    fixture_t *fx = *state;
    char *argv0[] = {"hm-edge", NULL};
    assert_int_equal(hm_config_load(fx->cfg, ARGC(argv0), argv0, NULL), 0);
    assert_int_equal(hm_config_int(fx->cfg, "max_conns"), 1000); /* default */

    write_file(fx, "edge\n    max_conns = 2000\n");
    setenv("HM_CONFIG", fx->file, 1);
    assert_int_equal(hm_config_load(fx->cfg, ARGC(argv0), argv0, NULL), 0);
    assert_int_equal(hm_config_int(fx->cfg, "max_conns"), 2000); /* file */

    setenv("HM_MAX_CONNS", "3000", 1);
    assert_int_equal(hm_config_load(fx->cfg, ARGC(argv0), argv0, NULL), 0);
    assert_int_equal(hm_config_int(fx->cfg, "max_conns"), 3000); /* environment */

    char *argv1[] = {"hm-edge", "--max-conns=4000", NULL};
    assert_int_equal(hm_config_load(fx->cfg, ARGC(argv1), argv1, NULL), 0);
    assert_int_equal(hm_config_int(fx->cfg, "max_conns"), 4000); /* flag */

    unsetenv("HM_MAX_CONNS");
    unsetenv("HM_CONFIG");
    assert_int_equal(hm_config_load(fx->cfg, ARGC(argv0), argv0, NULL), 0);
    assert_int_equal(hm_config_int(fx->cfg, "max_conns"), 1000); /* reload starts over */
}

static void
test_config_section_beats_common(void **state)
{
    fixture_t *fx = *state;
    write_file(fx, "common\n"
                   "    log_level = debug\n"
                   "    data_dir = /srv/common\n"
                   "edge\n"
                   "    data_dir = /srv/edge\n"
                   "broker\n"
                   "    label = \"not ours\"\n");
    char flag[200];
    snprintf(flag, sizeof flag, "--config=%s", fx->file);
    char *argv[] = {"hm-edge", flag, NULL};
    assert_int_equal(hm_config_load(fx->cfg, ARGC(argv), argv, NULL), 0);
    assert_string_equal(hm_config_str(fx->cfg, "log_level"), "debug");    /* common/ */
    assert_string_equal(hm_config_str(fx->cfg, "data_dir"), "/srv/edge"); /* edge/ first */
    assert_string_equal(hm_config_str(fx->cfg, "label"), "");             /* other section */
}

static void
test_config_flag_forms(void **state)
{
    fixture_t *fx = *state;
    char *argv[] = {"hm-edge", "--tls", "--heartbeat-s",   "2", "--data_dir=/d", "--offset",
                    "-7",      "--",    "--not-an-option", NULL};
    int first = 0;
    assert_int_equal(hm_config_load(fx->cfg, ARGC(argv), argv, &first), 0);
    assert_true(hm_config_bool(fx->cfg, "tls"));
    assert_true(hm_config_double(fx->cfg, "heartbeat_s") == 2.0);
    assert_string_equal(hm_config_str(fx->cfg, "data_dir"), "/d");
    assert_int_equal(hm_config_int(fx->cfg, "offset"), -7);
    assert_int_equal(first, 8); /* after "--" */

    setenv("HM_TLS", "on", 1);
    char *argv2[] = {"hm-edge", "--no-tls", NULL};
    assert_int_equal(hm_config_load(fx->cfg, ARGC(argv2), argv2, &first), 0);
    assert_false(hm_config_bool(fx->cfg, "tls"));
    assert_int_equal(first, 2); /* argc: no operand */

    char *argv3[] = {"hm-edge", "--tls=false", "-", NULL};
    assert_int_equal(hm_config_load(fx->cfg, ARGC(argv3), argv3, &first), 0);
    assert_false(hm_config_bool(fx->cfg, "tls"));
    assert_int_equal(first, 2); /* "-" is an operand */
}

static void
test_config_bool_spellings(void **state)
{
    fixture_t *fx = *state;
    static const char *const yes[] = {"true", "YES", "1", "On"};
    static const char *const no[] = {"false", "no", "0", "OFF"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(hm_config_set(fx->cfg, "tls", yes[i]), 0);
        assert_true(hm_config_bool(fx->cfg, "tls"));
        assert_int_equal(hm_config_set(fx->cfg, "tls", no[i]), 0);
        assert_false(hm_config_bool(fx->cfg, "tls"));
    }
}

static void
test_config_bounds(void **state)
{
    fixture_t *fx = *state;
    char *err;
    char *argv[] = {"hm-edge", "--max-conns", "100001", NULL};
    assert_int_equal(load_capturing(fx, ARGC(argv), argv, NULL, &err), -1);
    assert_contains(err, "max_conns");
    assert_contains(err, "flag --max-conns");
    assert_contains(err, "100001");
    assert_contains(err, "1 to 100000");
    free(err);

    char *ok[] = {"hm-edge", "--max-conns", "100000", "--heartbeat-s=0.5", NULL};
    assert_int_equal(hm_config_load(fx->cfg, ARGC(ok), ok, NULL), 0);
    assert_int_equal(hm_config_int(fx->cfg, "max_conns"), 100000);

    setenv("HM_HEARTBEAT_S", "0.25", 1);
    char *argv0[] = {"hm-edge", NULL};
    assert_int_equal(load_capturing(fx, ARGC(argv0), argv0, NULL, &err), -1);
    assert_contains(err, "heartbeat_s from environment HM_HEARTBEAT_S");
    free(err);
    unsetenv("HM_HEARTBEAT_S");

    assert_int_equal(hm_config_set(fx->cfg, "offset", "-9223372036854775808"), 0); /* no bounds */
    assert_true(hm_config_int(fx->cfg, "offset") < 0);
}

static void
test_config_bad_values_name_their_source(void **state)
{
    fixture_t *fx = *state;
    char *err;
    char *argv0[] = {"hm-edge", NULL};

    write_file(fx, "edge\n    max_conns = lots\n");
    char *argv[] = {"hm-edge", "--config", fx->file, NULL};
    assert_int_equal(load_capturing(fx, ARGC(argv), argv, NULL, &err), -1);
    assert_contains(err, "max_conns");
    assert_contains(err, fx->file);
    assert_contains(err, "edge/max_conns");
    assert_contains(err, "not an integer");
    free(err);

    setenv("HM_TLS", "maybe", 1);
    assert_int_equal(load_capturing(fx, ARGC(argv0), argv0, NULL, &err), -1);
    assert_contains(err, "tls from environment HM_TLS");
    assert_contains(err, "not a boolean");
    free(err);
    unsetenv("HM_TLS");

    char *argv2[] = {"hm-edge", "--heartbeat-s", "nan", NULL};
    assert_int_equal(load_capturing(fx, ARGC(argv2), argv2, NULL, &err), -1);
    assert_contains(err, "heartbeat_s from flag --heartbeat-s");
    free(err);
}

static void
test_config_rejects_malformed_numbers(void **state)
{
    fixture_t *fx = *state;
    static const char *const bad_ints[] = {
        "", " 5", "5 ", "12abc", "0x10", "1.5", "99999999999999999999"};
    static const char *const bad_doubles[] = {"", "abc", "1e999", "inf", "nan", "2s"};
    capture_start(fx, 2);
    for (size_t i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++)
        if (hm_config_set(fx->cfg, "offset", bad_ints[i]) != -1)
            fail_msg("int accepted \"%s\"", bad_ints[i]);
    for (size_t i = 0; i < sizeof bad_doubles / sizeof bad_doubles[0]; i++)
        if (hm_config_set(fx->cfg, "heartbeat_s", bad_doubles[i]) != -1)
            fail_msg("double accepted \"%s\"", bad_doubles[i]);
    assert_int_equal(hm_config_set(fx->cfg, "tls", ""), -1);
    assert_int_equal(hm_config_set(fx->cfg, "no_such_option", "1"), -1);
    free(capture_end(fx));
    assert_int_equal(hm_config_int(fx->cfg, "offset"), -5); /* unchanged after failures */
    assert_true(hm_config_double(fx->cfg, "heartbeat_s") == 30.0);
    assert_int_equal(hm_config_set(fx->cfg, "offset", "+42"), 0);
    assert_int_equal(hm_config_int(fx->cfg, "offset"), 42);
    assert_string_equal(hm_config_str(fx->cfg, "offset"), "+42"); /* text of any type */
}

static void
test_config_command_line_errors(void **state)
{
    fixture_t *fx = *state;
    char *unknown[] = {"hm-edge", "--max-con", "5", NULL};
    char *missing[] = {"hm-edge", "--max-conns", NULL};
    char *negate_int[] = {"hm-edge", "--no-max-conns", NULL};
    char *negate_value[] = {"hm-edge", "--no-tls=1", NULL};
    char *short_opt[] = {"hm-edge", "-v", NULL};
    char *missing_config[] = {"hm-edge", "--config", NULL};
    struct {
        char **argv;
        int argc;
        const char *says;
    } cases[] = {
        {unknown, ARGC(unknown), "unknown option --max-con"},
        {missing, ARGC(missing), "--max-conns needs a value"},
        {negate_int, ARGC(negate_int), "unknown option --no-max-conns"},
        {negate_value, ARGC(negate_value), "--no-tls takes no value"},
        {short_opt, ARGC(short_opt), "unknown option -v"},
        {missing_config, ARGC(missing_config), "--config needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err;
        assert_int_equal(load_capturing(fx, cases[i].argc, cases[i].argv, NULL, &err), -1);
        assert_contains(err, cases[i].says);
        free(err);
    }
}

static void
test_config_unreadable_file(void **state)
{
    fixture_t *fx = *state;
    char *err;
    char *argv0[] = {"hm-edge", NULL};
    setenv("HM_CONFIG", "/nonexistent/hm.cfg", 1);
    assert_int_equal(load_capturing(fx, ARGC(argv0), argv0, NULL, &err), -1);
    assert_contains(err, "/nonexistent/hm.cfg");
    assert_contains(err, "environment HM_CONFIG");
    free(err);

    write_file(fx, "edge\n    max_conns = 5\n");
    char *argv[] = {"hm-edge", "--config", fx->file, NULL}; /* the flag beats HM_CONFIG */
    assert_int_equal(hm_config_load(fx->cfg, ARGC(argv), argv, NULL), 0);
    assert_int_equal(hm_config_int(fx->cfg, "max_conns"), 5);

    write_file(fx, "edge\n  max_conns = 5\n"); /* ZPL indents by 4 */
    assert_int_equal(load_capturing(fx, ARGC(argv), argv, NULL, &err), -1);
    assert_contains(err, "not valid ZPL");
    free(err);

    char *dir[] = {"hm-edge", "--config", fx->dir, NULL};
    assert_int_equal(load_capturing(fx, ARGC(dir), dir, NULL, &err), -1);
    assert_contains(err, "Is a directory");
    free(err);

    setenv("HM_CONFIG", "", 1); /* empty: no file */
    assert_int_equal(hm_config_load(fx->cfg, ARGC(argv0), argv0, NULL), 0);
    assert_int_equal(hm_config_int(fx->cfg, "max_conns"), 1000);
}

static void
test_config_empty_env_counts_as_unset(void **state)
{
    fixture_t *fx = *state;
    setenv("HM_MAX_CONNS", "", 1);
    setenv("HM_DATA_DIR", "", 1);
    char *argv0[] = {"hm-edge", NULL};
    assert_int_equal(hm_config_load(fx->cfg, ARGC(argv0), argv0, NULL), 0);
    assert_int_equal(hm_config_int(fx->cfg, "max_conns"), 1000);
    assert_string_equal(hm_config_str(fx->cfg, "data_dir"), "./var");
}

static void
test_config_unknown_file_key_warns(void **state)
{
    fixture_t *fx = *state;
    write_file(fx, "edge\n    max_con = 5\n");
    char *argv[] = {"hm-edge", "--config", fx->file, NULL};
    char *err;
    assert_int_equal(load_capturing(fx, ARGC(argv), argv, NULL, &err), 0);
    assert_contains(err, "unknown key edge/max_con");
    free(err);
}

static void
test_config_help(void **state)
{
    fixture_t *fx = *state;
    setenv("HM_MAX_CONNS", "not even checked", 1);
    const char *forms[] = {"--help", "-h"};
    for (int i = 0; i < 2; i++) {
        char *argv[] = {"hm-edge", "--tls", (char *)forms[i], "--bogus", NULL};
        capture_start(fx, 1);
        int rc = hm_config_load(fx->cfg, ARGC(argv), argv, NULL);
        char *out = capture_end(fx);
        assert_int_equal(rc, 1);
        assert_contains(out, "Usage: hm-edge [options]");
        assert_contains(out, "--config FILE");
        assert_contains(out, "--max-conns");
        assert_contains(out, "HM_MAX_CONNS");
        assert_contains(out, "INT");
        assert_contains(out, "\"1000\"");
        assert_contains(out, "1 to 100000");
        assert_contains(out, "maximum WebSocket connections");
        assert_contains(out, "--[no-]tls");
        assert_contains(out, "--events-in");
        assert_contains(out, "tcp://127.0.0.1:5550");
        free(out);
    }
}

static void
test_config_bad_default_is_reported(void **state)
{
    fixture_t *fx = *state;
    static const hm_cfg_opt_t broken[] = {
        {"port", HM_CFG_INT, "80", 1024, 65535, "listen port"},
        {NULL, 0, NULL, 0, 0, NULL},
    };
    hm_config_t *cfg = hm_config_new("edge", NULL, broken);
    assert_non_null(cfg);
    char *argv0[] = {"hm-edge", NULL};
    capture_start(fx, 2);
    int rc = hm_config_load(cfg, ARGC(argv0), argv0, NULL);
    char *err = capture_end(fx);
    assert_int_equal(rc, -1);
    assert_contains(err, "port from the default");
    free(err);
    hm_config_destroy(&cfg);
    assert_null(cfg);
    hm_config_destroy(&cfg); /* idempotent */
}

static void
test_config_getters_before_load_give_defaults(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(hm_config_int(fx->cfg, "max_conns"), 1000);
    assert_string_equal(hm_config_str(fx->cfg, "log_level"), "info");
    assert_false(hm_config_bool(fx->cfg, "tls"));
}

int
main(void)
{
    alarm(60); /* a hung test must not hang CI */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_config_layers_in_normal_use),
        T(test_config_each_layer_overrides_the_one_before),
        T(test_config_section_beats_common),
        T(test_config_flag_forms),
        T(test_config_bool_spellings),
        T(test_config_bounds),
        T(test_config_bad_values_name_their_source),
        T(test_config_rejects_malformed_numbers),
        T(test_config_command_line_errors),
        T(test_config_unreadable_file),
        T(test_config_empty_env_counts_as_unset),
        T(test_config_unknown_file_key_warns),
        T(test_config_help),
        T(test_config_bad_default_is_reported),
        T(test_config_getters_before_load_give_defaults),
    };
    return cmocka_run_group_tests_name("hm_config", tests, NULL, NULL);
}
