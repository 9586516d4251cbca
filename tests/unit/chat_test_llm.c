/*
 * chat_test_llm.c - the openai backend: the URL, the request body (only the
 * data the question needs), and the request thread against a small HTTP
 * server in this process that streams like an OpenAI-compatible endpoint:
 * pieces in order, the whole reply, a stalled stream timing out, an HTTP
 * error, the key in the Authorization header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chat_llm.h"
#include "hm_clock.h"
#include "hm_proto.h"

/* ---- a one-connection HTTP server ---------------------------------------------- */

typedef struct {
    int fd;             /* listening socket */
    int port;           /* its port */
    const char *mode;   /* "ok", "stall" or "error" */
    char request[8192]; /* what the client sent (headers and body) */
    pthread_t thread;   /* serving thread */
} server_t;

static void
s_write_all(int fd, const char *buf)
{
    size_t len = strlen(buf), off = 0;
    while (off < len) {
        ssize_t n = write(fd, buf + off, len - off);
        if (n <= 0)
            return;
        off += (size_t)n;
    }
}

/* Writes one chunk of a chunked body holding an event with data. */
static void
s_event(int fd, const char *data)
{
    char buf[1024], chunk[1100];
    snprintf(buf, sizeof buf, "data: %s\n\n", data);
    snprintf(chunk, sizeof chunk, "%zx\r\n%s\r\n", strlen(buf), buf);
    s_write_all(fd, chunk);
}

/* Reads a request: headers, then Content-Length bytes of body. */
static void
s_read_request(int fd, server_t *s)
{
    size_t n = 0;
    char *end = NULL;
    while (n < sizeof s->request - 1) {
        ssize_t r = read(fd, s->request + n, sizeof s->request - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        s->request[n] = '\0';
        end = strstr(s->request, "\r\n\r\n");
        const char *cl = strcasestr(s->request, "Content-Length:");
        if (end && cl && n >= (size_t)(end + 4 - s->request) + (size_t)atoi(cl + 15))
            break;
    }
}

static void *
s_serve(void *arg)
{
    server_t *s = arg;
    int fd = accept(s->fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    s_read_request(fd, s);
    if (strcmp(s->mode, "error") == 0) {
        const char *body = "{\"error\":{\"message\":\"overloaded\"}}";
        char head[256];
        snprintf(head, sizeof head,
                 "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                 strlen(body));
        s_write_all(fd, head);
        s_write_all(fd, body);
    } else {
        s_write_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        s_event(fd, "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
                    "\"\"},\"finish_reason\":null}]}");
        s_event(fd, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Your \"}}]}");
        if (strcmp(s->mode, "stall") == 0) {
            sleep(3);
        } else {
            s_event(fd, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"numbers \"}}]}");
            s_event(fd, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"look steady.\"}}]}");
            s_event(fd, "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}");
            s_event(fd, "[DONE]");
            s_write_all(fd, "0\r\n\r\n");
        }
    }
    close(fd);
    return NULL;
}

static void
server_start(server_t *s, const char *mode)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 4), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, s_serve, s), 0);
}

static void
server_stop(server_t *s)
{
    pthread_join(s->thread, NULL);
    close(s->fd);
}

/* ---- helpers ---------------------------------------------------------------- */

/* Waits up to 5 s for the backend's next event. */
static int
next_event(chat_backend_t *bk, chat_bk_ev_t *ev)
{
    zmq_pollitem_t items[CHAT_BK_POLL_MAX];
    int n = bk->poll_items(bk, items, CHAT_BK_POLL_MAX);
    for (int i = 0; i < 100; i++) {
        if (bk->next(bk, ev) == 1)
            return 1;
        zmq_poll(items, n, 50);
    }
    return 0;
}

/* The backend for a server on port with the given timeouts. */
static chat_backend_t *
backend(int port, int timeout_ms, int idle_ms)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
    chat_llm_cfg_t cfg = {url, "test-model", "sk-secret", timeout_ms, idle_ms, 1, 100};
    chat_backend_t *bk = chat_llm_new(&cfg);
    assert_non_null(bk);
    return bk;
}

/* A prompt for job 42 asking about blood pressure. */
static chat_prompt_t
prompt(chat_intent_t *in, chat_ctx_t *ctx)
{
    chat_rules_classify("How is my blood pressure?", in);
    chat_ctx_init(ctx, CHAT_NEED_READINGS, in->metrics);
    ctx->answered = CHAT_NEED_READINGS;
    json_t *page =
        json_pack("{s:[{s:s, s:i, s:i, s:i, s:s}]}", "readings", "metric", "blood_pressure",
                  "value", 128, "systolic", 128, "diastolic", 84, "unit", "mmHg");
    chat_ctx_add_health(ctx, page, CHAT_NEED_READINGS);
    json_decref(page);
    return (chat_prompt_t){42, "How is my blood pressure?", in, ctx, NULL, 0};
}

/* ---- the tests --------------------------------------------------------------- */

static void
test_streamed_reply_arrives_in_pieces_then_whole(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, "ok");
    chat_backend_t *bk = backend(s.port, 5000, 2000);
    chat_intent_t in;
    chat_ctx_t ctx;
    chat_prompt_t p = prompt(&in, &ctx);
    assert_int_equal(bk->start(bk, &p), 0);
    const char *pieces[] = {"Your ", "numbers ", "look steady."};
    chat_bk_ev_t ev;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(next_event(bk, &ev), 1);
        assert_int_equal(ev.kind, CHAT_BK_DELTA);
        assert_int_equal(ev.job, 42);
        assert_int_equal(ev.index, i);
        assert_string_equal(ev.text, pieces[i]);
        chat_bk_ev_clear(&ev);
    }
    assert_int_equal(next_event(bk, &ev), 1);
    assert_int_equal(ev.kind, CHAT_BK_DONE);
    assert_string_equal(ev.text, "Your numbers look steady.");
    chat_bk_ev_clear(&ev);
    server_stop(&s);
    assert_non_null(strstr(s.request, "POST /v1/chat/completions HTTP/1.1"));
    assert_non_null(strstr(s.request, "Authorization: Bearer sk-secret"));
    assert_non_null(strstr(s.request, "\"stream\":true"));
    assert_non_null(strstr(s.request, "128/84 mmHg"));
    bk->destroy(&bk);
    assert_null(bk);
}

static void
test_stalled_stream_times_out(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, "stall");
    chat_backend_t *bk = backend(s.port, 10000, 700);
    chat_intent_t in;
    chat_ctx_t ctx;
    chat_prompt_t p = prompt(&in, &ctx);
    int64_t t0 = hm_clock_mono_ns();
    assert_int_equal(bk->start(bk, &p), 0);
    chat_bk_ev_t ev;
    assert_int_equal(next_event(bk, &ev), 1);
    assert_int_equal(ev.kind, CHAT_BK_DELTA);
    chat_bk_ev_clear(&ev);
    assert_int_equal(next_event(bk, &ev), 1);
    assert_int_equal(ev.kind, CHAT_BK_FAIL);
    assert_string_equal(ev.text, "timeout");
    assert_true((hm_clock_mono_ns() - t0) / 1000000 < 2500);
    chat_bk_ev_clear(&ev);
    server_stop(&s);
    bk->destroy(&bk);
}

static void
test_http_error_and_no_server_fail(void **state)
{
    (void)state;
    server_t s;
    server_start(&s, "error");
    chat_backend_t *bk = backend(s.port, 5000, 2000);
    chat_intent_t in;
    chat_ctx_t ctx;
    chat_prompt_t p = prompt(&in, &ctx);
    assert_int_equal(bk->start(bk, &p), 0);
    chat_bk_ev_t ev;
    assert_int_equal(next_event(bk, &ev), 1);
    assert_int_equal(ev.kind, CHAT_BK_FAIL);
    assert_string_equal(ev.text, "http_500");
    chat_bk_ev_clear(&ev);
    server_stop(&s);
    bk->destroy(&bk);
    bk = backend(s.port, 5000, 2000); /* nobody listens there any more */
    assert_int_equal(bk->start(bk, &p), 0);
    assert_int_equal(next_event(bk, &ev), 1);
    assert_int_equal(ev.kind, CHAT_BK_FAIL);
    assert_string_equal(ev.text, "connect");
    chat_bk_ev_clear(&ev);
    bk->destroy(&bk);
}

static void
test_body_holds_only_what_is_needed(void **state)
{
    (void)state;
    chat_llm_cfg_t cfg = {.model = "m", .max_tokens = 50};
    chat_intent_t in;
    chat_ctx_t ctx;
    chat_prompt_t p = prompt(&in, &ctx);
    json_t *history = json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "sender", "user", "message",
                                "hi", "sender", "ai_assistant", "message", "Hello!", "sender",
                                "care_team", "message", "Take care");
    p.history = history;
    json_t *body = chat_llm_body(&cfg, &p);
    json_t *msgs = json_object_get(body, "messages");
    assert_int_equal(json_array_size(msgs), 4);
    const char *system = json_string_value(json_object_get(json_array_get(msgs, 0), "content"));
    assert_non_null(strstr(system, "never give a diagnosis"));
    assert_non_null(strstr(system, "Latest blood pressure: 128/84 mmHg"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 2), "role")),
                        "assistant");
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 3), "content")),
                        "[from the care team] Take care");
    assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 50);
    json_decref(body);
    json_decref(history);
    chat_ctx_t none;
    chat_intent_t hello;
    chat_rules_classify("hello", &hello);
    chat_ctx_init(&none, chat_rules_needs(&hello), 0);
    chat_prompt_t q = {1, "hello", &hello, &none, NULL, 0};
    body = chat_llm_body(&cfg, &q);
    char *text = json_dumps(body, 0);
    assert_null(strstr(text, "user's own data")); /* a greeting carries no data at all */
    assert_non_null(strstr(text, "\"content\": \"hello\""));
    free(text);
    json_decref(body);
}

static void
test_url_forms(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(chat_llm_url("http://h:1/v1", out, sizeof out), 0);
    assert_string_equal(out, "http://h:1/v1/chat/completions");
    assert_int_equal(chat_llm_url("https://api.example/v1/", out, sizeof out), 0);
    assert_string_equal(out, "https://api.example/v1/chat/completions");
    assert_int_equal(chat_llm_url("http://h/v1/chat/completions", out, sizeof out), 0);
    assert_string_equal(out, "http://h/v1/chat/completions");
    assert_int_equal(chat_llm_url("ftp://h/v1", out, sizeof out), -1);
    assert_int_equal(chat_llm_url("", out, sizeof out), -1);
    assert_int_equal(chat_llm_url("http://a-very-long-host/v1", out, 10), -1);
}

int
main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streamed_reply_arrives_in_pieces_then_whole),
        cmocka_unit_test(test_stalled_stream_times_out),
        cmocka_unit_test(test_http_error_and_no_server_fail),
        cmocka_unit_test(test_body_holds_only_what_is_needed),
        cmocka_unit_test(test_url_forms),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
