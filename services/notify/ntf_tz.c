/*
 * ntf_tz.c - a small TZif reader and a cache of parsed zones.
 */
#include "ntf_tz.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HEADER 44 /* "TZif", version, 15 reserved, six 32-bit counts */

typedef struct {
    int64_t *at;     /* transition times (unix s), ascending; owned */
    uint8_t *idx;    /* time type of each transition; owned */
    int32_t *off;    /* UT offset of each time type (s); owned */
    uint32_t ntrans; /* transitions */
    uint32_t ntypes; /* time types, >= 1 */
    bool has_tail;   /* the footer fixes the offset after the last transition */
    int32_t tail;    /* that offset */
} s_zone_t;

struct ntf_tz_t {
    char *dir;       /* zoneinfo root; owned */
    zhashx_t *zones; /* name -> s_zone_t*; owned */
};

/* The six counts of a header. */
typedef struct {
    uint32_t isut, isstd, leap, time, type, chr;
} s_counts_t;

static void
s_zone_free(void **item)
{
    s_zone_t *z = *item;
    if (z) {
        free(z->at);
        free(z->idx);
        free(z->off);
        free(z);
    }
    *item = NULL;
}

ntf_tz_t *
ntf_tz_new(const char *dir)
{
    ntf_tz_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->dir = strdup(dir ? dir : "/usr/share/zoneinfo");
    self->zones = zhashx_new();
    if (!self->dir || !self->zones) {
        ntf_tz_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->zones, s_zone_free);
    return self;
}

void
ntf_tz_destroy(ntf_tz_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ntf_tz_t *self = *self_p;
    zhashx_destroy(&self->zones);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

bool
ntf_tz_name_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > NTF_TZ_NAME_MAX || name[0] == '/' || name[len - 1] == '/')
        return false;
    const char *comp = name;
    for (const char *p = name;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t n = (size_t)(p - comp);
            if (n == 0 || (n == 1 && comp[0] == '.') || (n == 2 && strncmp(comp, "..", 2) == 0))
                return false;
            if (*p == '\0')
                return true;
            comp = p + 1;
        } else if (!(*p >= 'A' && *p <= 'Z') && !(*p >= 'a' && *p <= 'z') &&
                   !(*p >= '0' && *p <= '9') && !strchr("_+-", *p)) {
            return false;
        }
    }
}

static uint32_t
s_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t
s_be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)s_be32(p) << 32 | s_be32(p + 4));
}

/* Reads a header at p (len bytes left). Returns the version character
 * ('\0', '2', '3', ...) or -1. */
static int
s_header(const uint8_t *p, size_t len, s_counts_t *c)
{
    if (len < S_HEADER || memcmp(p, "TZif", 4) != 0)
        return -1;
    c->isut = s_be32(p + 20);
    c->isstd = s_be32(p + 24);
    c->leap = s_be32(p + 28);
    c->time = s_be32(p + 32);
    c->type = s_be32(p + 36);
    c->chr = s_be32(p + 40);
    if (c->type == 0 || c->type > 256 || c->time > 100000 || c->leap > 100000 || c->chr > 100000 ||
        c->isut > 256 || c->isstd > 256)
        return -1;
    return p[4];
}

/* Bytes of the data block after a header, for times of tsize bytes. */
static size_t
s_block_len(const s_counts_t *c, size_t tsize)
{
    return c->time * tsize + c->time + c->type * 6 + c->chr + c->leap * (tsize + 4) + c->isstd +
           c->isut;
}

/* Parses a POSIX TZ string without a DST part ("<+09>-9", "JST-9",
 * "UTC0") into its offset (east positive). Returns 0 or -1. */
static int
s_footer_offset(const char *s, int32_t *out)
{
    if (*s == '<') {
        s = strchr(s, '>');
        if (!s)
            return -1;
        s++;
    } else {
        const char *start = s;
        while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
            s++;
        if (s - start < 3)
            return -1;
    }
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    long parts[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i > 0 && *s != ':')
            break;
        if (i > 0)
            s++;
        char *end = NULL;
        parts[i] = strtol(s, &end, 10);
        if (end == s || parts[i] < 0 || parts[i] > 167)
            return -1;
        s = end;
    }
    if (*s != '\0') /* a DST name or rule follows */
        return -1;
    *out = (int32_t)(-sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]));
    return 0;
}

/* Fills z from the data block at p of a header c with tsize-byte times,
 * and the footer when the block is a version 2+ one. Returns 0 or -1. */
static int
s_parse_block(s_zone_t *z, const uint8_t *p, const uint8_t *end, const s_counts_t *c, size_t tsize)
{
    z->ntrans = c->time;
    z->ntypes = c->type;
    z->at = calloc(c->time + 1, sizeof *z->at);
    z->idx = calloc(c->time + 1, 1);
    z->off = calloc(c->type, sizeof *z->off);
    if (!z->at || !z->idx || !z->off)
        return -1;
    for (uint32_t i = 0; i < c->time; i++)
        z->at[i] = tsize == 8 ? s_be64(p + i * 8) : (int32_t)s_be32(p + i * 4);
    p += c->time * tsize;
    for (uint32_t i = 0; i < c->time; i++)
        if ((z->idx[i] = p[i]) >= c->type)
            return -1;
    p += c->time;
    for (uint32_t i = 0; i < c->type; i++)
        z->off[i] = (int32_t)s_be32(p + i * 6);
    p += s_block_len(c, tsize) - c->time * tsize - c->time;
    if (tsize == 8 && p < end && *p == '\n') {
        const uint8_t *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        char footer[128];
        if (nl && (size_t)(nl - p - 1) < sizeof footer) {
            memcpy(footer, p + 1, (size_t)(nl - p - 1));
            footer[nl - p - 1] = '\0';
            z->has_tail = s_footer_offset(footer, &z->tail) == 0;
        }
    }
    return 0;
}

/* Parses a whole TZif file. Returns a new zone (caller owns) or NULL. */
static s_zone_t *
s_parse(const uint8_t *buf, size_t len)
{
    s_counts_t c;
    int version = s_header(buf, len, &c);
    if (version < 0 || s_block_len(&c, 4) > len - S_HEADER)
        return NULL;
    const uint8_t *p = buf + S_HEADER, *end = buf + len;
    size_t tsize = 4;
    if (version >= '2') {
        p += s_block_len(&c, 4);
        if (s_header(p, (size_t)(end - p), &c) < 0 ||
            s_block_len(&c, 8) > (size_t)(end - p) - S_HEADER)
            return NULL;
        p += S_HEADER;
        tsize = 8;
    }
    s_zone_t *z = calloc(1, sizeof *z);
    if (z && s_parse_block(z, p, end, &c, tsize) == 0)
        return z;
    void *item = z;
    s_zone_free(&item);
    return NULL;
}

/* Reads and parses dir/name. Returns a new zone or NULL. */
static s_zone_t *
s_load(const ntf_tz_t *self, const char *name)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", self->dir, name) >= (int)sizeof path)
        return NULL;
    FILE *f = fopen(path, "rbe");
    if (!f)
        return NULL;
    uint8_t *buf = malloc(NTF_TZ_FILE_MAX);
    size_t len = buf ? fread(buf, 1, NTF_TZ_FILE_MAX, f) : 0;
    fclose(f);
    s_zone_t *z = len > 0 ? s_parse(buf, len) : NULL;
    free(buf);
    return z;
}

/* The cached zone of name, loading it on first use. NULL when unknown. */
static s_zone_t *
s_zone(ntf_tz_t *self, const char *name)
{
    if (!ntf_tz_name_ok(name))
        return NULL;
    s_zone_t *z = zhashx_lookup(self->zones, name);
    if (z)
        return z;
    z = s_load(self, name);
    if (!z)
        return NULL;
    if (zhashx_size(self->zones) >= NTF_TZ_CACHE)
        zhashx_purge(self->zones);
    zhashx_insert(self->zones, name, z);
    return z;
}

int
ntf_tz_offset(ntf_tz_t *self, const char *name, int64_t unix_s, int32_t *offset_s)
{
    s_zone_t *z = s_zone(self, name);
    if (!z)
        return -1;
    if (z->ntrans == 0 || unix_s < z->at[0]) {
        *offset_s = z->ntrans == 0 && z->has_tail ? z->tail : z->off[0];
        return 0;
    }
    if (unix_s >= z->at[z->ntrans - 1] && z->has_tail) {
        *offset_s = z->tail;
        return 0;
    }
    uint32_t lo = 0, hi = z->ntrans - 1; /* at[lo] <= unix_s; find the last such */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if (z->at[mid] <= unix_s)
            lo = mid;
        else
            hi = mid - 1;
    }
    *offset_s = z->off[z->idx[lo]];
    return 0;
}

int
ntf_tz_local_minute(ntf_tz_t *self, const char *name, int64_t wall_ms)
{
    int64_t s = wall_ms >= 0 ? wall_ms / 1000 : -((-wall_ms + 999) / 1000);
    int32_t off;
    if (ntf_tz_offset(self, name, s, &off) != 0)
        return -1;
    int64_t local = s + off;
    int64_t day_s = ((local % 86400) + 86400) % 86400;
    return (int)(day_s / 60);
}
