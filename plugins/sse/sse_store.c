/*
 * Events a store change sends: the sse section's onStoreChange, a list of
 * rules {key, scope, eventName, id, data}. The engine hands the rules to
 * the plugin as written (section_fields), so a rule's data is a template
 * rendered when the key changes (svc->engine_render, with the namespace's
 * global store as it is then), not when the client subscribed. Without
 * data, the event carries the key's new value.
 *
 * Checked at write time (sse_rules_check, from check); parsed once per
 * stream when it starts (sse_rules_parse); rendered per change
 * (sse_rule_frame), on the loop of the streams' instance.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse_plugin.h"

static const char *const rule_keys[] = {"key", "scope", "eventName", "id",
                                        "data", NULL};

/* A store key a rule can name: it is also the path of the default
 * template "$.gS.<key>", so only characters a template name takes. */
static int key_ok(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (s == NULL || n == 0 || n > SSE_RULE_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* A value framed on an event's own line: no CR, LF or NUL. */
static int line_ok(const json_t *v, size_t max)
{
    const char *s = json_string_value(v);
    return s != NULL && json_string_length(v) <= max &&
           strlen(s) == json_string_length(v) && strpbrk(s, "\r\n") == NULL;
}

static int refuse(char *field, size_t flen, char *msg, size_t mlen,
                  size_t i, const char *member, const char *text)
{
    if (member)
        snprintf(field, flen, "sse.onStoreChange[%zu].%s", i, member);
    else
        snprintf(field, flen, "sse.onStoreChange[%zu]", i);
    snprintf(msg, mlen, "%s", text);
    return -EINVAL;
}

int sse_rules_check(const json_t *v, char *field, size_t flen, char *msg,
                    size_t mlen)
{
    if (!json_is_array(v) || json_array_size(v) > SSE_RULES_MAX) {
        snprintf(field, flen, "sse.onStoreChange");
        snprintf(msg, mlen,
                 "expected an array of at most %d rules {key, scope, "
                 "eventName, id, data}",
                 SSE_RULES_MAX);
        return -EINVAL;
    }
    size_t i;
    const json_t *r;
    json_array_foreach(v, i, r)
    {
        if (!json_is_object(r))
            return refuse(field, flen, msg, mlen, i, NULL,
                          "expected a rule {key, scope, eventName, id, "
                          "data}");
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)r, k, m)
        {
            int known = 0;
            for (size_t j = 0; rule_keys[j] && !known; j++)
                known = strcmp(k, rule_keys[j]) == 0;
            if (!known) {
                char t[64];
                snprintf(t, sizeof(t), "%.40s", k);
                return refuse(field, flen, msg, mlen, i, t,
                              "unknown member (expected key, scope, "
                              "eventName, id, data)");
            }
        }
        if (!key_ok(json_object_get(r, "key")))
            return refuse(field, flen, msg, mlen, i, "key",
                          "required: the global store key, 1 to 128 "
                          "characters of A-Z a-z 0-9 _");
        const json_t *sc = json_object_get(r, "scope");
        if (sc != NULL && !(json_is_string(sc) &&
                            strcmp(json_string_value(sc), "global") == 0))
            return refuse(field, flen, msg, mlen, i, "scope",
                          "expected \"global\" (the namespace's global "
                          "store, the default)");
        const json_t *ev = json_object_get(r, "eventName");
        if (ev != NULL && !line_ok(ev, 256))
            return refuse(field, flen, msg, mlen, i, "eventName",
                          "expected a string of at most 256 bytes without "
                          "CR, LF or NUL");
        const json_t *id = json_object_get(r, "id");
        if (id != NULL && !line_ok(id, SSE_ID_MAX))
            return refuse(field, flen, msg, mlen, i, "id",
                          "expected a string of at most 256 bytes without "
                          "CR, LF or NUL");
    }
    return 0;
}

void sse_rules_free(sse_rule_t *rules, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rules[i].key);
        free(rules[i].event);
        free(rules[i].id);
        free(rules[i].tmpl);
    }
    free(rules);
}

static char *dup_or_null(const json_t *v)
{
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

int sse_rules_parse(const json_t *v, sse_rule_t **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n == 0)
        return 0;
    sse_rule_t *rules = calloc(n, sizeof(*rules));
    if (rules == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(v, i);
        const json_t *data = json_object_get(r, "data");
        sse_rule_t *d = &rules[i];
        d->key = dup_or_null(json_object_get(r, "key"));
        d->event = dup_or_null(json_object_get(r, "eventName"));
        d->id = dup_or_null(json_object_get(r, "id"));
        if (data != NULL) {
            d->tmpl = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
        } else if (d->key != NULL) {
            /* no data: the key's new value */
            size_t l = strlen(d->key) + 8;
            d->tmpl = malloc(l);
            if (d->tmpl)
                snprintf(d->tmpl, l, "\"$.gS.%s\"", d->key);
        }
        if (d->key == NULL || d->tmpl == NULL ||
            (json_object_get(r, "eventName") && d->event == NULL) ||
            (json_object_get(r, "id") && d->id == NULL)) {
            sse_rules_free(rules, i + 1);
            return -ENOMEM;
        }
    }
    *out = rules;
    *n_out = n;
    return 0;
}

int sse_rule_frame(sse_inst_t *in, const char *ns, const sse_rule_t *r,
                   sse_buf_t *frame)
{
    char *out = NULL;
    size_t olen = 0;
    int rc = in->svc->engine_render(in->ctx, (doppel_str_t){ns, strlen(ns)},
                                    r->tmpl, strlen(r->tmpl), &out, &olen);
    if (rc < 0)
        return rc;
    json_t *v = json_loadb(out, olen, JSON_DECODE_ANY, NULL);
    in->svc->free(out);
    if (v == NULL)
        return -EINVAL;
    size_t dlen = 0;
    char *text = sse_data_text(v, &dlen);
    json_decref(v);
    if (text == NULL)
        return -ENOMEM;
    rc = sse_frame_event(frame, r->event ? r->event : "",
                         r->event ? strlen(r->event) : 0, r->id,
                         r->id ? strlen(r->id) : 0, -1, text, dlen);
    free(text);
    return rc;
}
