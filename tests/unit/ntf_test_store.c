/*
 * ntf_test_store.c - hm-notify's database: seqs per stream, idempotency
 * keys, acks and reads (with per-user receipts for broadcasts), paged lists,
 * replay, the queue bound, expiry and purging.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_db.h"
#include "ntf_query.h"
#include "ntf_store.h"

#define NOW 1767225600000LL

typedef struct {
    char dir[64];
    sqlite3 *db;
} fixture_t;

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ntf-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[128];
    snprintf(path, sizeof path, "%s/notify.db", f->dir);
    f->db = ntf_store_open(path);
    assert_non_null(f->db);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    hm_db_close(&f->db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Stores a notification for user with prio and key; returns its row id
 * (the row in *out when out is not NULL). */
static int64_t
add(fixture_t *f, int64_t user, ntf_prio_t prio, const char *key, ntf_row_t *out)
{
    ntf_new_t n = {user,
                   NTF_TYPE_MEDICATION_REMINDER,
                   prio,
                   "Take your pills",
                   "Metformin 500 mg",
                   NULL,
                   key,
                   NTF_ST_PENDING,
                   false,
                   NOW,
                   NOW + 60000,
                   0};
    ntf_row_t row;
    assert_int_equal(ntf_store_insert(f->db, &n, &row), 0);
    int64_t nid = row.nid;
    if (out)
        *out = row;
    else
        ntf_row_clear(&row);
    return nid;
}

static void
test_insert_assigns_seq_per_stream(void **state)
{
    fixture_t *f = *state;
    ntf_row_t a, b, c, bc;
    add(f, 1, NTF_PRIO_NORMAL, "a", &a);
    add(f, 1, NTF_PRIO_NORMAL, "b", &b);
    add(f, 2, NTF_PRIO_NORMAL, "a", &c); /* same key, other user: another notification */
    add(f, 0, NTF_PRIO_LOW, "all-1", &bc);
    assert_int_equal(a.seq, 1);
    assert_int_equal(b.seq, 2);
    assert_int_equal(c.seq, 1);
    assert_int_equal(bc.seq, 1);
    assert_string_equal(a.title, "Take your pills");
    assert_int_equal(a.status, NTF_ST_PENDING);
    assert_int_equal(a.expires_at, NOW + 60000);
    assert_string_not_equal(a.id, c.id);
    ntf_row_t again;
    assert_int_equal(ntf_store_find_idem(f->db, 1, "b", &again), 1);
    assert_string_equal(again.id, b.id);
    assert_int_equal(ntf_store_find_idem(f->db, 1, "zzz", &again), 0);
    ntf_row_clear(&again);
    ntf_row_t dup;
    ntf_new_t n = {1,   NTF_TYPE_SYSTEM, NTF_PRIO_LOW, "t", "m", NULL,
                   "a", NTF_ST_PENDING,  false,        NOW, 0,   0};
    assert_int_equal(ntf_store_insert(f->db, &n, &dup), -1); /* the key is unique per user */
    ntf_row_clear(&a);
    ntf_row_clear(&b);
    ntf_row_clear(&c);
    ntf_row_clear(&bc);
}

static void
test_ack_and_read_are_idempotent(void **state)
{
    fixture_t *f = *state;
    ntf_row_t row, got;
    add(f, 1, NTF_PRIO_HIGH, "k", &row);
    assert_int_equal(ntf_store_ack(f->db, &row, 1, NOW + 5), 1);
    assert_int_equal(ntf_store_ack(f->db, &row, 1, NOW + 6), 0);
    assert_int_equal(ntf_store_get(f->db, row.id, 1, &got), 1);
    assert_int_equal(got.status, NTF_ST_ACKED);
    assert_int_equal(got.acked_at, NOW + 5);
    ntf_row_clear(&got);
    assert_int_equal(ntf_store_unread(f->db, 1), 1);
    assert_int_equal(ntf_store_read(f->db, &row, 1, NOW + 7), 1);
    assert_int_equal(ntf_store_read(f->db, &row, 1, NOW + 8), 0);
    assert_int_equal(ntf_store_unread(f->db, 1), 0);
    ntf_row_clear(&row);
}

static void
test_broadcast_receipts_are_per_user(void **state)
{
    fixture_t *f = *state;
    ntf_row_t bc, got;
    add(f, 0, NTF_PRIO_NORMAL, "maint", &bc);
    assert_int_equal(ntf_store_unread(f->db, 1), 1);
    assert_int_equal(ntf_store_unread(f->db, 2), 1);
    assert_int_equal(ntf_store_ack(f->db, &bc, 1, NOW + 1), 1);
    assert_int_equal(ntf_store_ack(f->db, &bc, 1, NOW + 2), 0);
    assert_int_equal(ntf_store_read(f->db, &bc, 1, NOW + 3), 1);
    assert_int_equal(ntf_store_unread(f->db, 1), 0);
    assert_int_equal(ntf_store_unread(f->db, 2), 1);
    assert_int_equal(ntf_store_get(f->db, bc.id, 1, &got), 1);
    assert_int_equal(got.acked_at, NOW + 1);
    ntf_row_clear(&got);
    assert_int_equal(ntf_store_get(f->db, bc.id, 2, &got), 1);
    assert_int_equal(got.acked_at, 0);
    ntf_row_clear(&got);
    add(f, 2, NTF_PRIO_NORMAL, "own", NULL);
    assert_int_equal(ntf_store_read_all(f->db, 2, NOW + 4), 2);
    assert_int_equal(ntf_store_unread(f->db, 2), 0);
    ntf_row_clear(&bc);
}

static void
test_list_pages_newest_first_with_broadcasts(void **state)
{
    fixture_t *f = *state;
    char key[16];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "k%d", i);
        add(f, 1, NTF_PRIO_NORMAL, key, NULL);
        add(f, 2, NTF_PRIO_NORMAL, key, NULL); /* someone else's */
    }
    add(f, 0, NTF_PRIO_NORMAL, "bc", NULL);
    int64_t next = 0;
    json_t *page = ntf_query_list(f->db, 1, 0, 4, false, &next);
    assert_int_equal(json_array_size(page), 4);
    assert_true(json_is_true(json_object_get(json_array_get(page, 0), "broadcast")));
    assert_true(next > 0);
    json_t *page2 = ntf_query_list(f->db, 1, next, 4, false, &next);
    assert_int_equal(json_array_size(page2), 2);
    assert_int_equal(next, 0);
    json_decref(page);
    json_decref(page2);
    page = ntf_query_list(f->db, 1, 0, 100, true, &next);
    assert_int_equal(json_array_size(page), 6);
    json_decref(page);
}

/* Collects seqs. */
static int
seqs(const ntf_row_t *row, void *arg)
{
    json_array_append_new(arg, json_integer(row->seq));
    return 0;
}

static void
test_replay_is_the_published_stream_in_order(void **state)
{
    fixture_t *f = *state;
    ntf_row_t r1, r2;
    add(f, 1, NTF_PRIO_NORMAL, "1", &r1);                 /* seq 1, acked after publication */
    add(f, 1, NTF_PRIO_NORMAL, "2", &r2);                 /* seq 2, acked, never published */
    add(f, 1, NTF_PRIO_NORMAL, "3", NULL);                /* seq 3, pending */
    int64_t held = add(f, 1, NTF_PRIO_NORMAL, "4", NULL); /* seq 4, held */
    add(f, 1, NTF_PRIO_NORMAL, "5", NULL);                /* seq 5 */
    ntf_store_mark_sent(f->db, r1.nid, NOW);
    ntf_store_ack(f->db, &r1, 1, NOW);
    ntf_store_ack(f->db, &r2, 1, NOW);
    ntf_store_set_status(f->db, held, NTF_ST_HELD);
    json_t *got = json_array();
    bool more = true;
    assert_int_equal(ntf_query_since(f->db, 1, 0, 10, &more, seqs, got), 3);
    assert_false(more);
    json_t *want = json_pack("[i, i, i]", 1, 3, 5);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    got = json_array();
    assert_int_equal(ntf_query_since(f->db, 1, 1, 1, &more, seqs, got), 1);
    assert_true(more);
    assert_int_equal(json_integer_value(json_array_get(got, 0)), 3);
    json_decref(got);
    assert_int_equal(ntf_query_max_sent_seq(f->db, 1), 1);
    assert_int_equal(ntf_query_max_sent_seq(f->db, 9), 0);
    ntf_row_clear(&r1);
    ntf_row_clear(&r2);
}

static void
test_queue_bound_evicts_low_before_normal_never_high(void **state)
{
    fixture_t *f = *state;
    ntf_prio_t prios[] = {NTF_PRIO_CRITICAL, NTF_PRIO_LOW,  NTF_PRIO_NORMAL, NTF_PRIO_HIGH,
                          NTF_PRIO_LOW,      NTF_PRIO_HIGH, NTF_PRIO_LOW};
    int64_t nid[7];
    char key[8];
    for (int i = 0; i < 7; i++) {
        snprintf(key, sizeof key, "%d", i);
        nid[i] = add(f, 1, prios[i], key, NULL);
    }
    assert_int_equal(ntf_query_evict(f->db, 1, 5), 2);
    int want[] = {NTF_ST_PENDING, NTF_ST_EVICTED, NTF_ST_PENDING, NTF_ST_PENDING,
                  NTF_ST_EVICTED, NTF_ST_PENDING, NTF_ST_PENDING};
    for (int i = 0; i < 7; i++) {
        ntf_row_t row;
        assert_int_equal(ntf_store_get_nid(f->db, nid[i], &row), 1);
        assert_int_equal(row.status, want[i]);
        ntf_row_clear(&row);
    }
    /* Down to 2: the last low, then the normal one; high and critical stay. */
    assert_int_equal(ntf_query_evict(f->db, 1, 2), 2);
    assert_int_equal(ntf_query_evict(f->db, 1, 2), 0);
    json_t *open = json_array();
    assert_int_equal(ntf_query_open(f->db, 1, NTF_ST_PENDING, 100, seqs, open), 3);
    json_decref(open);
}

static void
test_expiry_and_purge(void **state)
{
    fixture_t *f = *state;
    int64_t a = add(f, 1, NTF_PRIO_NORMAL, "a", NULL); /* expires NOW + 60 s */
    ntf_row_t b;
    add(f, 1, NTF_PRIO_NORMAL, "b", &b);
    ntf_store_ack(f->db, &b, 1, NOW);
    assert_int_equal(ntf_query_expire(f->db, NOW + 59999), 0);
    assert_int_equal(ntf_query_expire(f->db, NOW + 60000), 1);
    ntf_row_t row;
    assert_int_equal(ntf_store_get_nid(f->db, a, &row), 1);
    assert_int_equal(row.status, NTF_ST_EXPIRED);
    ntf_row_clear(&row);
    add(f, 1, NTF_PRIO_NORMAL, "c", NULL); /* still open: kept */
    assert_int_equal(ntf_query_purge(f->db, NOW + 1), 2);
    assert_int_equal(ntf_store_get_nid(f->db, a, &row), 0);
    int64_t users[4];
    assert_int_equal(ntf_query_held_users(f->db, users, 4), 0);
    ntf_row_clear(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert_assigns_seq_per_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_and_read_are_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broadcast_receipts_are_per_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_pages_newest_first_with_broadcasts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_is_the_published_stream_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound_evicts_low_before_normal_never_high, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_expiry_and_purge, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
