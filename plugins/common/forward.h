/*
 * Forwarding one request of the host's HTTP front upstream for the
 * engine's DOPPEL_REPLY_PROXY answer, the same way for every plugin that
 * serves on the front (http, graphql, soap): what goes upstream, what
 * comes back to the client, and what the journal is told.
 *
 * Two kinds of PROXY reply: a mock with proxy: {target} (the request's
 * path is appended to the target), and a record-and-replay service (ABI
 * 1.1: reply->service set; proxy_target is already the full URL for the
 * path, with the service's timeout and TLS flags).
 *
 * Upstream: the request's method, body and headers, less the hop-by-hop
 * ones (and those its Connection header lists), every Proxy-* header and
 * doppel's own credential (the reply's DROP_AUTHORIZATION/DROP_X_API_KEY
 * flags); X-Forwarded-For (the client's chain then its address),
 * X-Forwarded-Proto and X-Forwarded-Host added unless a proxy before us
 * set them.
 * Back: the upstream's status, headers (hop-by-hop dropped) and body,
 * plus X-Doppel-Service (a service's) or X-Doppel-Mock-Id.
 */
#ifndef DOPPEL_PLUGIN_FORWARD_H
#define DOPPEL_PLUGIN_FORWARD_H

#include <stddef.h>

#include "doppel/plugin.h"

/* 1 if r is a record-and-replay service's PROXY reply. */
int dpf_service_reply(const doppel_reply_t *r);

/* A short, stable word for why a forward failed (the journal's
 * "reason"): guard, timeout, refused, unreachable, protocol, too_large,
 * reset, stopping, error. */
const char *dpf_fail_reason(int rc);

/* The status a client gets when forwarding failed with rc: 504 for a
 * timeout, 502 otherwise. */
int dpf_fail_status(int rc);

/* Starts forwarding req (served at path: the request's path after
 * /stubs/<ns> when addressed that way) for r through svc->http_fetch.
 * Returns 0: cb is called once, later, on ctx's loop (the caller keeps req
 * and r alive until then); -ENOTSUP: the host has no http_fetch; -EINVAL:
 * the target is not an http(s) URL; -ENOMEM, -ECANCELED (the host is
 * stopping). */
int dpf_start(doppel_ctx_t *ctx, const doppel_services_t *svc,
              const doppel_http_request_t *req, doppel_str_t path,
              const doppel_reply_t *r, doppel_fetch_cb cb, void *data);

/* Tells the engine how the forward of r ended (svc->engine_forwarded,
 * when the host has it; a failure is logged). Call once per PROXY reply,
 * before the answer goes out and before r is freed. */
void dpf_report(doppel_ctx_t *ctx, const doppel_services_t *svc,
                doppel_reply_t *r, int status, const char *reason);

/* Sends the upstream's answer res to the client for r (see above). Does
 * not report: call dpf_report first. Returns http_respond's result. */
int dpf_respond(const doppel_services_t *svc, doppel_http_exchange_t *ex,
                const doppel_reply_t *r, const doppel_fetch_result_t *res);

/* Copies s into out as the inside of a JSON string (no quotes), NUL
 * terminated, truncated to fit; returns the length written. */
size_t dpf_json_escape(char *out, size_t cap, const char *s, size_t len);

#endif /* DOPPEL_PLUGIN_FORWARD_H */
