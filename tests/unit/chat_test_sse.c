/*
 * chat_test_sse.c - the event-stream parser and OpenAI chunk contents:
 * pieces in order however the bytes are cut, line endings, comments,
 * multi-line data, the end of a stream, bounds, error chunks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_sse.h"

/* What the callback collected. */
typedef struct {
    char data[16][256]; /* each event's data */
    int n;              /* events */
    int stop_after;     /* return 1 after this many (0: never) */
} events_t;

static int
on_event(void *arg, const char *data, size_t len)
{
    events_t *e = arg;
    assert_int_equal(strlen(data), len);
    if (e->n < 16)
        snprintf(e->data[e->n], sizeof e->data[0], "%s", data);
    e->n++;
    return e->stop_after && e->n >= e->stop_after ? 1 : 0;
}

/* The stream an OpenAI-compatible server sends for "Hi there". */
static const char s_stream[] =
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" th\\u00e9re\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: [DONE]\n\n";

static void
test_stream_gives_pieces_in_order(void **state)
{
    (void)state;
    for (size_t cut = 1; cut <= sizeof s_stream; cut += 3) { /* bytes arrive in any pieces */
        chat_sse_t *sse = chat_sse_new(4096);
        events_t e = {.n = 0};
        for (size_t i = 0; i < sizeof s_stream - 1; i += cut) {
            size_t n = sizeof s_stream - 1 - i < cut ? sizeof s_stream - 1 - i : cut;
            assert_int_equal(chat_sse_feed(sse, s_stream + i, n, on_event, &e), 0);
        }
        assert_int_equal(chat_sse_finish(sse, on_event, &e), 0);
        assert_int_equal(e.n, 5);
        char text[64] = "";
        bool finished = false, fin;
        for (int k = 0; k < 4; k++) {
            char *content = NULL;
            assert_int_equal(chat_sse_chunk(e.data[k], strlen(e.data[k]), &content, &fin),
                             CHAT_CHUNK_CONTENT);
            strcat(text, content);
            finished = finished || fin;
            free(content);
        }
        assert_string_equal(text, "Hi th\xC3\xA9re");
        assert_true(finished);
        char *content = NULL;
        assert_int_equal(chat_sse_chunk(e.data[4], strlen(e.data[4]), &content, &fin),
                         CHAT_CHUNK_DONE);
        assert_null(content);
        chat_sse_destroy(&sse);
    }
}

static void
test_line_endings_comments_and_multiline_data(void **state)
{
    (void)state;
    static const char stream[] = ": keep-alive\r\n"
                                 "event: message\r\n"
                                 "data:one\r\n"
                                 "data: two\r\r"
                                 "id: 7\n"
                                 "retry: 100\n"
                                 "data: three\n"
                                 "\n"
                                 "data: tail"; /* no blank line at the end of the stream */
    chat_sse_t *sse = chat_sse_new(64);
    events_t e = {.n = 0};
    assert_int_equal(chat_sse_feed(sse, stream, sizeof stream - 1, on_event, &e), 0);
    assert_int_equal(e.n, 2);
    assert_string_equal(e.data[0], "one\ntwo");
    assert_string_equal(e.data[1], "three");
    assert_int_equal(chat_sse_finish(sse, on_event, &e), 0);
    assert_int_equal(e.n, 3);
    assert_string_equal(e.data[2], "tail");
    chat_sse_destroy(&sse);
}

static void
test_bounds_and_stopping(void **state)
{
    (void)state;
    chat_sse_t *sse = chat_sse_new(16);
    events_t e = {.n = 0};
    assert_int_equal(chat_sse_feed(sse, "data: 0123456789abcdefXYZ\n", 26, on_event, &e), -1);
    chat_sse_destroy(&sse);
    sse = chat_sse_new(16);
    assert_int_equal(chat_sse_feed(sse, "data: 0123456789\ndata: 0123456789\n", 34, on_event, &e),
                     -1); /* the event's data exceeds the bound */
    chat_sse_destroy(&sse);
    sse = chat_sse_new(64);
    e = (events_t){.stop_after = 1};
    assert_int_equal(chat_sse_feed(sse, "data: a\n\ndata: b\n\n", 18, on_event, &e), 1);
    assert_int_equal(e.n, 1);
    chat_sse_destroy(&sse);
}

static void
test_chunks_that_are_errors(void **state)
{
    (void)state;
    char *content = NULL;
    bool fin = false;
    const char *err = "{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}";
    assert_int_equal(chat_sse_chunk(err, strlen(err), &content, &fin), CHAT_CHUNK_ERROR);
    assert_int_equal(chat_sse_chunk("not json", 8, &content, &fin), CHAT_CHUNK_ERROR);
    assert_int_equal(chat_sse_chunk("[1,2]", 5, &content, &fin), CHAT_CHUNK_ERROR);
    const char *odd = "{\"choices\":[]}"; /* no content: an empty piece */
    assert_int_equal(chat_sse_chunk(odd, strlen(odd), &content, &fin), CHAT_CHUNK_CONTENT);
    assert_string_equal(content, "");
    free(content);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_gives_pieces_in_order),
        cmocka_unit_test(test_line_endings_comments_and_multiline_data),
        cmocka_unit_test(test_bounds_and_stopping),
        cmocka_unit_test(test_chunks_that_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
