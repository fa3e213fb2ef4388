/*
 * dp_sse: the parts of the SSE plugin that touch no host service, so that
 * unit tests (tests/unit/test_sse_*.c) link them alone.
 *
 *   sse_frame_*   the text/event-stream framing of the HTML Living
 *                 Standard ("Server-sent events", 9.2.5/9.2.6): event,
 *                 id, retry and one data line per line of the data
 *   sse_chain_*   a response.sseEventChain checked and turned into the
 *                 frames one stream sends
 *   sse_route_*   eventPath routes matched against request paths
 *
 * Nothing here keeps global state; every function is safe on any thread.
 */
#ifndef DOPPEL_SSE_CHAIN_H
#define DOPPEL_SSE_CHAIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds of a chain (docs/sse.md, "Bounds"). */
#define SSE_EVENTS_MAX 10000
#define SSE_DELAY_MAX 3600000u  /* ms: one event's delay, one loopDelay */
#define SSE_LOOP_DELAY_MIN 100u /* ms */
#define SSE_LOOP_DELAY_DEFAULT 1000u
#define SSE_HEARTBEAT_MIN 100u /* ms, when not 0 (off) */
#define SSE_MAX_LOOPS_DEFAULT 100u
#define SSE_MAX_TIME_DEFAULT 1200u /* s, also what 0 means */
#define SSE_MAX_TIME_MAX 86400u    /* s */
#define SSE_LOG_BATCH_DEFAULT 10u
#define SSE_ID_MAX 256                 /* bytes of an event id */
#define SSE_CHAIN_BYTES_MAX (8u << 20) /* frames of one rendered chain */

/* A growing byte buffer (malloc'd). */
typedef struct sse_buf {
    char *p;
    size_t len, cap;
} sse_buf_t;

void sse_buf_free(sse_buf_t *b);
/* 0 or -ENOMEM */
int sse_buf_put(sse_buf_t *b, const void *s, size_t n);

/* Appends one event: "event: E\n" (when event is non-empty), "id: I\n"
 * (when id is non-NULL), "retry: R\n" (when retry >= 0), then one
 * "data: L\n" per line of data (split on CRLF, LF and CR; at least one
 * line, so an empty string is still dispatched), then the blank line.
 * CR and LF inside event and id are dropped (they would end the field);
 * an id holding NUL is sent without it (the standard ignores such ids).
 * Returns 0 or -ENOMEM. */
int sse_frame_event(sse_buf_t *b, const char *event, size_t event_len,
                    const char *id, size_t id_len, int64_t retry,
                    const char *data, size_t data_len);

/* Appends the comment line ": text\n\n" (a heartbeat). 0 or -ENOMEM. */
int sse_frame_comment(sse_buf_t *b, const char *text);

/* The data an event carries as text: a JSON string as is, anything else
 * serialised compactly. malloc'd, NULL when out of memory. */
char *sse_data_text(const json_t *data, size_t *len);

/* One event of a chain, framed. */
typedef struct sse_event {
    size_t off, len; /* its frame within sse_chain_t.frames */
    uint32_t delay_ms;
    char *id; /* the id it is sent with (its own, or its 1-based
                 position), for Last-Event-ID */
} sse_event_t;

typedef struct sse_chain {
    sse_event_t *ev;
    size_t n;
    char *frames; /* every event's frame, one after the other */
    size_t frames_len;
    int loop;
    uint32_t loop_delay_ms;
    uint32_t heartbeat_ms; /* 0: off */
    uint32_t max_loops;    /* 0: unlimited */
    uint32_t max_time_s;   /* never 0: 0 was replaced by the default */
    uint32_t log_batch;
} sse_chain_t;

/* Why a chain was refused: the member (relative to the mock:
 * "response.sseEventChain.events[2].delay") and a sentence. */
typedef struct sse_chain_err {
    char field[256];
    char message[512];
} sse_chain_err_t;

/* Checks a chain as written (v: the value of response.sseEventChain).
 * Numbers must be JSON integers within their bounds; data may be any
 * JSON (templates are strings); eventName and id strings; members not in
 * the mock format are refused. payload_template is the mock's
 * response.payloadTemplatePath (NULL: none): an event's templatePath must
 * name that file (its data is the rendered payload). Returns 0 or
 * -EINVAL with err filled. */
int sse_chain_check(const json_t *v, const char *payload_template,
                    sse_chain_err_t *err);

/* Builds the frames of a rendered chain (checked again: a template may
 * have rendered a member out of its bounds). default_event is the
 * section's eventName (NULL or "": none), payload the rendered response
 * body an event with templatePath and no data sends. Returns 0 (*out
 * filled, release with sse_chain_free), -EINVAL (err filled) or
 * -ENOMEM. */
int sse_chain_build(const json_t *v, const char *default_event,
                    const char *payload, size_t payload_len, sse_chain_t *out,
                    sse_chain_err_t *err);
void sse_chain_free(sse_chain_t *c);

/* Where a stream that resumes after last_id starts: the index of the
 * event after the first one sent with that id; c->n when that was the
 * last event (the chain is over, unless it loops); 0 when no event has
 * that id (start over). */
size_t sse_chain_resume(const sse_chain_t *c, const char *last_id, size_t len);

/* 1 if path (a request path, len bytes, no query) matches route (an
 * eventPath): segments equal, ":name" matching one non-empty segment,
 * "*" the rest of the path (sse_route.c). */
int sse_route_matches(const char *route, const char *path, size_t len);

#endif /* DOPPEL_SSE_CHAIN_H */
