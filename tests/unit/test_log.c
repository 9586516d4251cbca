/*
 * test_log.c - hm_log: line format, level gating, quoting, lws and czmq
 * routing, one write per line across processes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "hm_clock.h"
#include "hm_log.h"

#include <czmq.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LLL_ERR (1 << 0) /* libwebsockets' bits, as lws-logs.h defines them */
#define LLL_WARN (1 << 1)
#define LLL_NOTICE (1 << 2)
#define LLL_INFO (1 << 3)

/* stderr redirected into a temporary file. */
typedef struct {
    int saved; /* the real stderr */
    int fd;    /* the temporary file */
} capture_t;

static void
capture_start(capture_t *cap)
{
    char path[] = "/tmp/test_log_XXXXXX";
    cap->fd = mkstemp(path);
    assert_true(cap->fd >= 0);
    unlink(path);
    cap->saved = dup(STDERR_FILENO);
    assert_true(cap->saved >= 0);
    assert_int_equal(dup2(cap->fd, STDERR_FILENO), STDERR_FILENO);
}

/* Restores stderr. Returns what was written (caller frees). */
static char *
capture_end(capture_t *cap)
{
    assert_int_equal(dup2(cap->saved, STDERR_FILENO), STDERR_FILENO);
    close(cap->saved);
    off_t size = lseek(cap->fd, 0, SEEK_END);
    assert_true(size >= 0);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(cap->fd, text, (size_t)size, 0), size);
    close(cap->fd);
    return text;
}

static void
assert_matches(const char *text, const char *pattern)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    if (rc != 0)
        fail_msg("\"%s\" does not match /%s/", text, pattern);
}

static int
setup(void **state)
{
    (void)state;
    hm_log_init("test-proc", HM_LOG_INFO);
    hm_clock_set_real();
    return 0;
}

static void
test_log_writes_one_key_value_line(void **state)
{
    (void)state;
    capture_t cap;
    capture_start(&cap);
    hm_log_info("worker_ready", "service=%s workers=%d", "auth", 3);
    char *out = capture_end(&cap);
    assert_matches(out, "^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                        "level=info proc=test-proc event=worker_ready service=auth workers=3\n$");
    free(out);
}

static void
test_log_ts_follows_hm_clock(void **state)
{
    (void)state;
    hm_clock_set_fake(1767225600123LL); /* 2026-01-01T00:00:00.123Z */
    capture_t cap;
    capture_start(&cap);
    hm_log_warn("tick", NULL);
    char *out = capture_end(&cap);
    hm_clock_set_real();
    assert_string_equal(out, "ts=2026-01-01T00:00:00.123Z level=warn proc=test-proc event=tick\n");
    free(out);
}

static void
test_log_level_gates_lines(void **state)
{
    (void)state;
    hm_log_set_level(HM_LOG_WARN);
    assert_int_equal(hm_log_get_level(), HM_LOG_WARN);
    capture_t cap;
    capture_start(&cap);
    hm_log_debug("d", "n=%d", 1);
    hm_log_info("i", "n=%d", 2);
    hm_log_warn("w", "n=%d", 3);
    hm_log_error("e", "n=%d", 4);
    char *out = capture_end(&cap);
    assert_null(strstr(out, "event=d "));
    assert_null(strstr(out, "event=i "));
    assert_non_null(strstr(out, "level=warn proc=test-proc event=w n=3\n"));
    assert_non_null(strstr(out, "level=error proc=test-proc event=e n=4\n"));
    free(out);

    hm_log_set_level(HM_LOG_DEBUG);
    capture_start(&cap);
    hm_log_debug("d", "n=%d", 1);
    out = capture_end(&cap);
    assert_non_null(strstr(out, "level=debug proc=test-proc event=d n=1\n"));
    free(out);
}

static void
test_log_level_out_of_range_is_clamped(void **state)
{
    (void)state;
    hm_log_set_level((hm_log_level_t)42);
    assert_int_equal(hm_log_get_level(), HM_LOG_DEBUG);
    hm_log_set_level((hm_log_level_t)-3);
    assert_int_equal(hm_log_get_level(), HM_LOG_ERROR);
}

static void
test_log_level_parse(void **state)
{
    (void)state;
    assert_int_equal(hm_log_level_parse("error"), HM_LOG_ERROR);
    assert_int_equal(hm_log_level_parse("warn"), HM_LOG_WARN);
    assert_int_equal(hm_log_level_parse("info"), HM_LOG_INFO);
    assert_int_equal(hm_log_level_parse("DEBUG"), HM_LOG_DEBUG);
    assert_int_equal(hm_log_level_parse("verbose"), -1);
    assert_int_equal(hm_log_level_parse(""), -1);
    assert_int_equal(hm_log_level_parse(NULL), -1);
}

static void
test_log_quote_leaves_plain_values_bare(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(hm_log_quote("auth", buf, sizeof buf), "auth");
    assert_string_equal(hm_log_quote("tcp://127.0.0.1:5550", buf, sizeof buf),
                        "tcp://127.0.0.1:5550");
}

static void
test_log_quote_escapes(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(hm_log_quote("a b", buf, sizeof buf), "\"a b\"");
    assert_string_equal(hm_log_quote("say \"hi\"", buf, sizeof buf), "\"say \\\"hi\\\"\"");
    assert_string_equal(hm_log_quote("a\\b", buf, sizeof buf), "\"a\\\\b\"");
    assert_string_equal(hm_log_quote("l1\nl2\r\t", buf, sizeof buf), "\"l1\\nl2\\r\\t\"");
    assert_string_equal(hm_log_quote("k=v", buf, sizeof buf), "\"k=v\"");
    assert_string_equal(hm_log_quote("\x01", buf, sizeof buf), "\"\\x01\"");
    assert_string_equal(hm_log_quote("", buf, sizeof buf), "\"\"");
    assert_string_equal(hm_log_quote(NULL, buf, sizeof buf), "\"\"");
}

static void
test_log_quote_cuts_long_values(void **state)
{
    (void)state;
    char buf[12];
    assert_string_equal(hm_log_quote("hello big world", buf, sizeof buf), "\"hello ...\"");
    assert_string_equal(hm_log_quote("abcdefghijklmnop", buf, sizeof buf), "abcdefgh...");
    assert_string_equal(hm_log_quote("a b c d e", buf, sizeof buf), "\"a b c d e\""); /* fits */
    assert_string_equal(hm_log_quote("a b c d e f", buf, sizeof buf), "\"a b c ...\"");
    char tiny[3];
    assert_string_equal(hm_log_quote("abcdef", tiny, sizeof tiny), "ab");
    assert_string_equal(hm_log_quote("abc", buf, 0), "");
}

static void
test_log_null_event_and_control_chars(void **state)
{
    (void)state;
    capture_t cap;
    capture_start(&cap);
    hm_log_info(NULL, "msg=%s", "two\nlines");
    char *out = capture_end(&cap);
    assert_matches(out, " event=- msg=two lines\n$");
    assert_int_equal(strchr(out, '\n') - out, (long)strlen(out) - 1);
    free(out);
}

static void
test_log_long_line_is_cut_to_one_write(void **state)
{
    (void)state;
    char *big = malloc(3 * HM_LOG_LINE_MAX);
    assert_non_null(big);
    memset(big, 'x', 3 * HM_LOG_LINE_MAX - 1);
    big[3 * HM_LOG_LINE_MAX - 1] = '\0';
    capture_t cap;
    capture_start(&cap);
    hm_log_info("big", "pad=%s", big);
    char *out = capture_end(&cap);
    free(big);
    size_t len = strlen(out);
    assert_true(len <= HM_LOG_LINE_MAX);
    assert_true(len > HM_LOG_LINE_MAX - 8);
    assert_string_equal(out + len - 5, "x...\n");
    assert_ptr_equal(strchr(out, '\n'), out + len - 1);
    free(out);
}

static void
test_log_keeps_errno(void **state)
{
    (void)state;
    capture_t cap;
    capture_start(&cap);
    errno = ENOENT;
    hm_log_error("open_failed", "errno=%d", errno);
    assert_int_equal(errno, ENOENT);
    char *out = capture_end(&cap);
    assert_non_null(strstr(out, "errno=2"));
    free(out);
}

static void
test_log_lws_lines(void **state)
{
    (void)state;
    capture_t cap;
    capture_start(&cap);
    hm_log_lws_emit(LLL_ERR, "bind failed on port 80\n");
    hm_log_lws_emit(LLL_WARN, "slow client\n");
    hm_log_lws_emit(LLL_NOTICE, "started\n");
    hm_log_lws_emit(LLL_INFO, "chatty detail\n");
    char *out = capture_end(&cap);
    assert_non_null(strstr(out, "level=error proc=test-proc event=lws msg=\"bind failed on port "
                                "80\"\n"));
    assert_non_null(strstr(out, "level=warn proc=test-proc event=lws msg=\"slow client\"\n"));
    assert_non_null(strstr(out, "level=info proc=test-proc event=lws msg=started\n"));
    assert_null(strstr(out, "chatty"));
    free(out);

    hm_log_set_level(HM_LOG_DEBUG);
    capture_start(&cap);
    hm_log_lws_emit(LLL_INFO, "chatty detail\n");
    out = capture_end(&cap);
    assert_non_null(strstr(out, "level=debug proc=test-proc event=lws msg=\"chatty detail\"\n"));
    free(out);
}

static void
test_log_czmq_is_routed(void **state)
{
    (void)state;
    capture_t cap;
    capture_start(&cap);
    zsys_warning("dangling %s socket", "PUB");
    zsys_error("plain");
    zsys_debug("hidden at info");
    char *out = capture_end(&cap);
    assert_non_null(strstr(out, "level=warn proc=test-proc event=czmq "
                                "msg=\"dangling PUB socket\"\n"));
    assert_non_null(strstr(out, "level=error proc=test-proc event=czmq msg=plain\n"));
    assert_null(strstr(out, "hidden"));
    free(out);
}

#define CHILDREN 4
#define LINES 200
#define PAD 2000

/* Child: logs LINES long lines into the pipe, then leaves without atexit. */
static void
child_burst(int fd, int child)
{
    dup2(fd, STDERR_FILENO);
    char pad[PAD + 1];
    memset(pad, 'a' + child, PAD);
    pad[PAD] = '\0';
    for (int i = 0; i < LINES; i++)
        hm_log_info("burst", "child=%d seq=%d pad=%s", child, i, pad);
    _exit(0);
}

static void
test_log_lines_from_processes_do_not_interleave(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pids[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0)
            child_burst(fds[1], c);
    }
    close(fds[1]);
    size_t cap = (size_t)CHILDREN * LINES * (PAD + 200), len = 0;
    char *all = malloc(cap + 1);
    assert_non_null(all);
    ssize_t n;
    while ((n = read(fds[0], all + len, cap - len)) > 0)
        len += (size_t)n;
    all[len] = '\0';
    close(fds[0]);
    for (int c = 0; c < CHILDREN; c++) {
        int status;
        assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    int lines = 0;
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        assert_matches(line, "^ts=[^ ]+ level=info proc=test-proc event=burst child=[0-3] "
                             "seq=[0-9]+ pad=");
        const char *pad = strstr(line, "pad=") + 4;
        assert_int_equal(strlen(pad), PAD);
        assert_int_equal(strspn(pad, (char[]){pad[0], '\0'}), PAD);
    }
    assert_int_equal(lines, CHILDREN * LINES);
    free(all);
}

int
main(void)
{
    alarm(60); /* a hung test must not hang CI */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_log_writes_one_key_value_line, setup),
        cmocka_unit_test_setup(test_log_ts_follows_hm_clock, setup),
        cmocka_unit_test_setup(test_log_level_gates_lines, setup),
        cmocka_unit_test_setup(test_log_level_out_of_range_is_clamped, setup),
        cmocka_unit_test_setup(test_log_level_parse, setup),
        cmocka_unit_test_setup(test_log_quote_leaves_plain_values_bare, setup),
        cmocka_unit_test_setup(test_log_quote_escapes, setup),
        cmocka_unit_test_setup(test_log_quote_cuts_long_values, setup),
        cmocka_unit_test_setup(test_log_null_event_and_control_chars, setup),
        cmocka_unit_test_setup(test_log_long_line_is_cut_to_one_write, setup),
        cmocka_unit_test_setup(test_log_keeps_errno, setup),
        cmocka_unit_test_setup(test_log_lws_lines, setup),
        cmocka_unit_test_setup(test_log_czmq_is_routed, setup),
        cmocka_unit_test_setup(test_log_lines_from_processes_do_not_interleave, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
