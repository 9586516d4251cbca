/*
 * hm_proto_internal.h - helpers shared by hm_json.c and hm_envelope.c only.
 */
#ifndef HM_PROTO_INTERNAL_H
#define HM_PROTO_INTERNAL_H

#include <stddef.h>

/* Walks one msgpack value at buf[*off..len) without allocating, checking
 * lengths, counts and depth; advances *off past it. Returns 0 or a negative
 * hm_env_err_t. */
int hm_json__scan(const char *buf, size_t len, size_t *off);

#endif /* HM_PROTO_INTERNAL_H */
