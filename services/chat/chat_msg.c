/*
 * chat_msg.c - storing messages, the per-user streams, history and replay.
 */
#include "chat_msg.h"

#include <stdio.h>
#include <string.h>

#include "chat_db.h"
#include "hm_clock.h"
#include "hm_db.h"
#include "hm_log.h"
#include "hm_proto.h"

/* The message columns every query below selects first, in this order. */
#define S_COLS "m.message_id, m.conversation_id, m.seq, m.body, m.sender, m.sender_id, m.ts"

/* The chat_message data of the row at stmt (columns S_COLS from col 0).
 * Caller owns; NULL on ENOMEM. */
static json_t *
s_row_data(sqlite3_stmt *stmt)
{
    char ts[40];
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:s}", "message_id",
                     (const char *)sqlite3_column_text(stmt, 0), "conversation_id",
                     (const char *)sqlite3_column_text(stmt, 1), "seq",
                     (json_int_t)sqlite3_column_int64(stmt, 2), "message",
                     (const char *)sqlite3_column_text(stmt, 3), "sender",
                     (const char *)sqlite3_column_text(stmt, 4), "sender_id",
                     (json_int_t)sqlite3_column_int64(stmt, 5), "timestamp",
                     hm_clock_iso8601(sqlite3_column_int64(stmt, 6), ts, sizeof ts));
}

/* Queues the event of the row at stmt (S_COLS, then inbox user_id and seq
 * at columns 7 and 8). Returns 0 or -1. */
static int
s_queue_row(chat_out_t *out, sqlite3_stmt *stmt)
{
    hm_envelope_t *ev = hm_envelope_new(HM_MSG_CHAT_MESSAGE);
    json_t *data = s_row_data(stmt);
    if (!ev || !data) {
        json_decref(data);
        hm_envelope_destroy(&ev);
        return -1;
    }
    ev->ts = sqlite3_column_int64(stmt, 6);
    ev->seq = sqlite3_column_int64(stmt, 8);
    hm_envelope_set_data(ev, data);
    return chat_out_publish(out, sqlite3_column_int64(stmt, 7), &ev);
}

int64_t
chat_msg_stream_seq(sqlite3 *db, int64_t user_id)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "SELECT coalesce(max(seq), 0) FROM inbox"
                                           " WHERE user_id = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    int rc = chat_db_step_row(db, stmt, "stream_seq");
    int64_t seq = rc == 1 ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    return seq;
}

/* Appends message_id to user_id's stream. Returns 0 or -1. */
static int
s_inbox_add(sqlite3 *db, int64_t user_id, const char *message_id)
{
    int64_t seq = chat_msg_stream_seq(db, user_id);
    if (seq < 0)
        return -1;
    sqlite3_stmt *stmt =
        hm_db_prepare(db, "INSERT INTO inbox (user_id, seq, message_id) VALUES (?, ?, ?)");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int64(stmt, 2, seq + 1);
    sqlite3_bind_text(stmt, 3, message_id, -1, SQLITE_TRANSIENT);
    return hm_db_step_done(db, stmt, "inbox_add") == 1 ? 0 : -1;
}

/* Inserts the message row with seq. Returns 0 or -1. */
static int
s_insert(sqlite3 *db, const chat_post_t *p, int64_t seq)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "INSERT INTO messages (conversation_id, seq,"
                                           " message_id, sender, sender_id, body, ts)"
                                           " VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, p->conversation_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 2, seq);
    sqlite3_bind_text(stmt, 3, p->message_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 4, p->sender, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 5, p->sender_id);
    sqlite3_bind_text(stmt, 6, p->text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 7, p->ts);
    return hm_db_step_done(db, stmt, "message_insert") == 1 ? 0 : -1;
}

int
chat_msg_post(sqlite3 *db, chat_out_t *out, const chat_post_t *p, chat_stored_t *res)
{
    chat_conv_t conv;
    if (chat_db_conv_get(db, p->conversation_id, &conv) != 1)
        return -1;
    int64_t seq = conv.last_seq + 1;
    int64_t people[CHAT_MSG_PARTICIPANTS_MAX];
    int n = chat_db_participants(db, p->conversation_id, people, CHAT_MSG_PARTICIPANTS_MAX);
    if (n < 0 || s_insert(db, p, seq) != 0 || chat_db_conv_touch(db, conv.id, seq, p->ts) != 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (s_inbox_add(db, people[i], p->message_id) != 0)
            return -1;
    if (res) {
        snprintf(res->message_id, sizeof res->message_id, "%s", p->message_id);
        snprintf(res->conversation_id, sizeof res->conversation_id, "%s", p->conversation_id);
        res->seq = seq;
        res->ts = p->ts;
    }
    return out ? chat_msg_republish(db, out, p->message_id) : 0;
}

int
chat_msg_get(sqlite3 *db, const char *message_id, chat_stored_t *res)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "SELECT conversation_id, seq, ts FROM messages"
                                           " WHERE message_id = ?");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, message_id, -1, SQLITE_TRANSIENT);
    int rc = chat_db_step_row(db, stmt, "message_get");
    if (rc == 1) {
        snprintf(res->message_id, sizeof res->message_id, "%s", message_id);
        snprintf(res->conversation_id, sizeof res->conversation_id, "%s",
                 (const char *)sqlite3_column_text(stmt, 0));
        res->seq = sqlite3_column_int64(stmt, 1);
        res->ts = sqlite3_column_int64(stmt, 2);
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* Queues the event of every row of a bound stream query. Returns the count
 * or -1. Finalizes. */
static int
s_queue_rows(sqlite3 *db, chat_out_t *out, sqlite3_stmt *stmt, const char *op)
{
    int n = 0, rc;
    while ((rc = chat_db_step_row(db, stmt, op)) == 1)
        if (s_queue_row(out, stmt) == 0)
            n++;
    sqlite3_finalize(stmt);
    return rc < 0 ? -1 : n;
}

int
chat_msg_republish(sqlite3 *db, chat_out_t *out, const char *message_id)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "SELECT " S_COLS ", i.user_id, i.seq FROM inbox i"
                                           " JOIN messages m ON m.message_id = i.message_id"
                                           " WHERE i.message_id = ? ORDER BY i.user_id");
    if (!stmt)
        return -1;
    sqlite3_bind_text(stmt, 1, message_id, -1, SQLITE_TRANSIENT);
    return s_queue_rows(db, out, stmt, "republish") < 0 ? -1 : 0;
}

int
chat_msg_republish_since(sqlite3 *db, chat_out_t *out, int64_t since_ms, int max)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "SELECT " S_COLS ", i.user_id, i.seq FROM messages m"
                                           " JOIN inbox i ON i.message_id = m.message_id"
                                           " WHERE m.ts >= ? ORDER BY m.ts, i.user_id, i.seq"
                                           " LIMIT ?");
    if (!stmt)
        return -1;
    sqlite3_bind_int64(stmt, 1, since_ms);
    sqlite3_bind_int(stmt, 2, max);
    return s_queue_rows(db, out, stmt, "republish_since");
}

json_t *
chat_msg_history(sqlite3 *db, const char *conv, int64_t before_seq, int limit, bool *more)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "SELECT " S_COLS " FROM messages m"
                                           " WHERE m.conversation_id = ? AND m.seq < ?"
                                           " ORDER BY m.seq DESC LIMIT ?");
    if (!stmt)
        return NULL;
    sqlite3_bind_text(stmt, 1, conv, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt, 2, before_seq > 0 ? before_seq : INT64_MAX);
    sqlite3_bind_int(stmt, 3, limit + 1); /* one more tells whether older ones exist */
    json_t *page = json_array();
    int rc, n = 0;
    while ((rc = chat_db_step_row(db, stmt, "history")) == 1) {
        if (++n > limit)
            break;
        json_array_insert_new(page, 0, s_row_data(stmt)); /* oldest first */
    }
    sqlite3_finalize(stmt);
    *more = n > limit;
    if (rc < 0)
        json_decref(page);
    return rc < 0 ? NULL : page;
}

json_t *
chat_msg_replay(sqlite3 *db, int64_t user_id, int64_t since_seq, bool *more)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "SELECT " S_COLS ", i.user_id, i.seq FROM inbox i"
                                           " JOIN messages m ON m.message_id = i.message_id"
                                           " WHERE i.user_id = ? AND i.seq > ?"
                                           " ORDER BY i.seq LIMIT ?");
    if (!stmt)
        return NULL;
    sqlite3_bind_int64(stmt, 1, user_id);
    sqlite3_bind_int64(stmt, 2, since_seq);
    sqlite3_bind_int(stmt, 3, CHAT_REPLAY_MAX + 1);
    json_t *events = json_array();
    int rc, n = 0;
    char ts[40];
    while ((rc = chat_db_step_row(db, stmt, "replay")) == 1) {
        if (++n > CHAT_REPLAY_MAX)
            break;
        json_array_append_new(
            events,
            json_pack("{s:s, s:o, s:I, s:s, s:I}", "type", HM_MSG_CHAT_MESSAGE, "data",
                      s_row_data(stmt), "seq", (json_int_t)sqlite3_column_int64(stmt, 8),
                      "timestamp", hm_clock_iso8601(sqlite3_column_int64(stmt, 6), ts, sizeof ts),
                      "user_id", (json_int_t)user_id));
    }
    sqlite3_finalize(stmt);
    *more = n > CHAT_REPLAY_MAX;
    if (rc < 0)
        json_decref(events);
    return rc < 0 ? NULL : events;
}

json_t *
chat_msg_recent(sqlite3 *db, const char *conv, int n)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "SELECT sender, sender_id, body FROM messages"
                                           " WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?");
    if (!stmt)
        return NULL;
    sqlite3_bind_text(stmt, 1, conv, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(stmt, 2, n);
    json_t *list = json_array();
    int rc;
    while ((rc = chat_db_step_row(db, stmt, "recent")) == 1)
        json_array_insert_new(list, 0,
                              json_pack("{s:s, s:I, s:s}", "sender",
                                        (const char *)sqlite3_column_text(stmt, 0), "sender_id",
                                        (json_int_t)sqlite3_column_int64(stmt, 1), "message",
                                        (const char *)sqlite3_column_text(stmt, 2)));
    sqlite3_finalize(stmt);
    if (rc < 0)
        json_decref(list);
    return rc < 0 ? NULL : list;
}

char *
chat_msg_text(sqlite3 *db, const char *message_id)
{
    sqlite3_stmt *stmt = hm_db_prepare(db, "SELECT body FROM messages WHERE message_id = ?");
    if (!stmt)
        return NULL;
    sqlite3_bind_text(stmt, 1, message_id, -1, SQLITE_TRANSIENT);
    char *text = NULL;
    if (chat_db_step_row(db, stmt, "message_text") == 1)
        text = strdup((const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return text;
}

int
chat_msg_broadcast(sqlite3 *db, chat_out_t *out, const char *conv, int64_t except_id,
                   const char *type, json_t *data)
{
    int64_t people[CHAT_MSG_PARTICIPANTS_MAX];
    int n = data ? chat_db_participants(db, conv, people, CHAT_MSG_PARTICIPANTS_MAX) : -1;
    int sent = 0;
    for (int i = 0; i < n; i++) {
        if (people[i] == except_id)
            continue;
        hm_envelope_t *ev = hm_envelope_new(type);
        if (!ev)
            break;
        hm_envelope_set_data(ev, json_incref(data));
        if (chat_out_publish(out, people[i], &ev) == 0)
            sent++;
    }
    json_decref(data);
    return n < 0 ? -1 : sent;
}
