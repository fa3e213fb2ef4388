/* The mcp protocol section: validation, calls matched on their arguments,
 * templates over the arguments, isError, the list answers, misses (known
 * and unknown tools) in the unmatched list, and hostile input. The engine
 * side of the contract in docs/engine.md ("MCP"). */
#include "test_engine_util.h"

static int64_t fake_now = 5000;
static int64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

/* Test JSON is written with ' for " (none of it needs a real '). */
static char *q2(const char *s)
{
    char *o = strdup(s);
    for (char *p = o; *p; p++)
        if (*p == '\'')
            *p = '"';
    return o;
}

static const char *put(dp_engine_t *e, const char *txt)
{
    char *j = q2(txt);
    const char *id = t_put(e, j);
    free(j);
    return id;
}

static void fails(dp_engine_t *e, const char *txt, const char *field)
{
    char *j = q2(txt);
    t_put_fails(e, j, field);
    free(j);
}

/* As fails, for JSON holding \u0000 (which t_json refuses). */
static void fails_nul(dp_engine_t *e, const char *txt, const char *field)
{
    char *j = q2(txt);
    json_t *m = json_loads(j, JSON_ALLOW_NUL, NULL);
    free(j);
    assert_non_null(m);
    json_t *st = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_put(e, m, NULL, &st, NULL, &err), -EINVAL);
    assert_null(st);
    json_decref(m);
    assert_string_equal(err.field, field);
}

static json_t *jq(const char *txt)
{
    char *j = q2(txt);
    json_t *v = t_json(j);
    free(j);
    return v;
}

typedef struct call {
    const char *ns, *server, *method, *target, *body;
    size_t body_len; /* 0: strlen(body) */
    const char *hname, *hval; /* the HTTP header sent; NULL: Authorization */
} call_t;

#define CALL(...) (&(call_t){__VA_ARGS__})

static doppel_reply_t *mcp(dp_engine_t *e, const call_t *c)
{
    doppel_exchange_t x = {0};
    x.size = sizeof(x);
    x.protocol = DOPPEL_STR("mcp");
    if (c->ns)
        x.ns = (doppel_str_t){c->ns, strlen(c->ns)};
    if (c->server)
        x.server = (doppel_str_t){c->server, strlen(c->server)};
    x.operation = (doppel_str_t){c->method, strlen(c->method)};
    const char *t = c->target ? c->target : "";
    x.target = (doppel_str_t){t, strlen(t)};
    if (c->body) {
        x.body = (const uint8_t *)c->body;
        x.body_len = c->body_len ? c->body_len : strlen(c->body);
    }
    x.content_type = DOPPEL_STR("application/json");
    doppel_kv_t h = {DOPPEL_STR("Authorization"), DOPPEL_STR("Bearer s")};
    if (c->hname)
        h = (doppel_kv_t){{c->hname, strlen(c->hname)},
                          {c->hval, strlen(c->hval)}};
    x.metadata = &h;
    x.n_metadata = 1;
    x.request_id = DOPPEL_STR("rpc-1");
    doppel_reply_t *out = NULL;
    assert_int_equal(dp_engine_match(e, &x, &out), 0);
    assert_non_null(out);
    return out;
}

static json_t *body_json(const doppel_reply_t *r)
{
    json_error_t je;
    json_t *v = json_loadb((const char *)r->body, r->body_len, 0, &je);
    if (v == NULL)
        fail_msg("reply body is not JSON: %.*s", (int)r->body_len,
                 (const char *)r->body);
    return v;
}

/* The reply body must equal the expected JSON (written with '). */
static void body_is(const doppel_reply_t *r, const char *expect)
{
    json_t *got = body_json(r);
    json_t *want = jq(expect);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("body\n got %s\nwant %s", g, w);
    }
    json_decref(got);
    json_decref(want);
}

static void list_is(dp_engine_t *e, const char *ns, const char *server,
                    const char *method, const char *expect)
{
    doppel_reply_t *r =
        mcp(e, CALL(.ns = ns, .server = server, .method = method));
    assert_int_equal(r->kind, DOPPEL_REPLY_RESPONSE);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->mock_id.len, 0);
    assert_int_equal(r->flags, 0);
    assert_string_equal(t_header(r, "Content-Type"), "application/json");
    body_is(r, expect);
    dp_engine_reply_free(r);
}

/* The mock id that answers the call, "" on no match (static buffer). */
static const char *who(dp_engine_t *e, const call_t *c)
{
    static char id[160];
    doppel_reply_t *r = mcp(e, c);
    snprintf(id, sizeof(id), "%.*s", (int)r->mock_id.len, r->mock_id.ptr);
    assert_int_equal(r->kind,
                     id[0] ? DOPPEL_REPLY_RESPONSE : DOPPEL_REPLY_NO_MATCH);
    dp_engine_reply_free(r);
    return id;
}

#define TOOL(name) "'mcp':{'method':'tools/call','tool':'" name "'}"
#define OK "'response':{'payload':{'content':[]}}"

/* ---- validation --------------------------------------------------------- */

static void test_validation(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    /* the section and its method */
    fails(e, "{'mcp':5," OK "}", "mcp");
    fails(e, "{'mcp':{'tool':'a'}," OK "}", "mcp.method");
    fails(e, "{'mcp':{'method':'tools/list','tool':'a'}," OK "}", "mcp.method");
    fails(e, "{'mcp':{'method':'TOOLS/CALL','tool':'a'}," OK "}", "mcp.method");
    fails(e, "{'mcp':{'method':7,'tool':'a'}," OK "}", "mcp.method");
    fails_nul(e, "{'mcp':{'method':'tools/call\\u0000x','tool':'a'}," OK "}",
              "mcp.method");
    /* the target each method needs */
    fails(e, "{'mcp':{'method':'tools/call'}," OK "}", "mcp.tool");
    fails(e, "{'mcp':{'method':'resources/read'}," OK "}", "mcp.resource");
    fails(e, "{'mcp':{'method':'prompts/get'}," OK "}", "mcp.prompt");
    fails(e, "{'mcp':{'method':'tools/call','tool':''}," OK "}", "mcp.tool");
    fails(e, "{'mcp':{'method':'tools/call','tool':5}," OK "}", "mcp.tool");
    fails(e, "{'mcp':{'method':'tools/call','tool':'a\\nb'}," OK "}",
          "mcp.tool");
    fails_nul(e, "{'mcp':{'method':'tools/call','tool':'a\\u0000b'}," OK "}",
              "mcp.tool");
    fails_nul(e,
              "{'mcp':{'method':'tools/call','tool':'a','serverName':"
              "'a\\u0000'}," OK "}",
              "mcp.serverName");
    fails_nul(e,
              "{'mcp':{'method':'tools/call','tool':'a','description':"
              "'a\\u0000'}," OK "}",
              "mcp.description");
    char big[400], txt[600];
    memset(big, 'x', 257);
    big[257] = '\0';
    snprintf(txt, sizeof(txt), "{" TOOL("%s") "," OK "}", big);
    fails(e, txt, "mcp.tool");
    /* keys of another method are named */
    fails(e,
          "{'mcp':{'method':'tools/call','tool':'a','resource':'x:/'}," OK "}",
          "mcp.resource");
    fails(e, "{'mcp':{'method':'prompts/get','prompt':'p','tool':'a'}," OK "}",
          "mcp.tool");
    fails(e,
          "{'mcp':{'method':'tools/call','tool':'a','mimeType':'t/p'}," OK "}",
          "mcp.mimeType");
    fails(e,
          "{'mcp':{'method':'resources/read','resource':'x:/',"
          "'inputSchema':{'type':'object'}}," OK "}",
          "mcp.inputSchema");
    fails(e, "{'mcp':{'method':'tools/call','tool':'a','arguments':[]}," OK "}",
          "mcp.arguments");
    fails(e, "{'mcp':{'method':'prompts/get','prompt':'a','name':'n'}," OK "}",
          "mcp.name");
    /* serverName */
    fails(e,
          "{'mcp':{'method':'tools/call','tool':'a','serverName':'a/b'}," OK
          "}",
          "mcp.serverName");
    fails(e, "{'mcp':{'method':'tools/call','tool':'a','serverName':5}," OK "}",
          "mcp.serverName");
    memset(big, 's', 65);
    big[65] = '\0';
    snprintf(txt, sizeof(txt),
             "{'mcp':{'method':'tools/call','tool':'a','serverName':'%s'}," OK
             "}",
             big);
    fails(e, txt, "mcp.serverName");
    /* list fields */
    fails(e,
          "{'mcp':{'method':'tools/call','tool':'a','description':5}," OK "}",
          "mcp.description");
    fails(e,
          "{'mcp':{'method':'tools/call','tool':'a','inputSchema':"
          "{'type':'string'}}," OK "}",
          "mcp.inputSchema");
    fails(e,
          "{'mcp':{'method':'tools/call','tool':'a','inputSchema':[]}," OK "}",
          "mcp.inputSchema");
    fails(e,
          "{'mcp':{'method':'tools/call','tool':'a','inputSchema':"
          "{'properties':{}}}," OK "}",
          "mcp.inputSchema");
    fails(e,
          "{'mcp':{'method':'tools/call','tool':'a','outputSchema':5}," OK "}",
          "mcp.outputSchema");
    fails(e,
          "{'mcp':{'method':'tools/call','tool':'a','annotations':'x'}," OK "}",
          "mcp.annotations");
    fails(e,
          "{'mcp':{'method':'resources/read','resource':'x:/',"
          "'mimeType':''}," OK "}",
          "mcp.mimeType");
    fails(e,
          "{'mcp':{'method':'resources/read','resource':'x:/','name':7}," OK
          "}",
          "mcp.name");
    fails(e,
          "{'mcp':{'method':'prompts/get','prompt':'p','arguments':{}}," OK "}",
          "mcp.arguments");
    fails(e,
          "{'mcp':{'method':'prompts/get','prompt':'p','arguments':[5]}," OK
          "}",
          "mcp.arguments[0]");
    fails(e,
          "{'mcp':{'method':'prompts/get','prompt':'p','arguments':"
          "[{'name':'a'},{'name':''}]}," OK "}",
          "mcp.arguments[1].name");
    fails(e,
          "{'mcp':{'method':'prompts/get','prompt':'p','arguments':"
          "[{'name':'a','required':'yes'}]}," OK "}",
          "mcp.arguments[0].required");
    fails(e,
          "{'mcp':{'method':'prompts/get','prompt':'p','arguments':"
          "[{'name':'a','description':1}]}," OK "}",
          "mcp.arguments[0].description");
    /* conditions: the engine's condition language, as for http bodies */
    fails(e,
          "{'mcp':{'method':'tools/call','tool':'a','conditions':{}}," OK "}",
          "mcp.conditions");
    fails(e,
          "{'mcp':{'method':'tools/call','tool':'a','conditions':"
          "[{'path':'$.a','assertAction':'nope','value':1}]}," OK "}",
          "mcp.conditions[0].assertAction");
    fails(e,
          "{'mcp':{'method':'tools/call','tool':'a','conditions':"
          "[{'path':'$.a','op':'equals','value':1}]}," OK "}",
          "mcp.conditions[0].op");
    /* answers */
    fails(e, "{" TOOL("a") ",'proxy':{'target':'http://127.0.0.1:1'}}",
          "proxy");
    fails(e, "{" TOOL("a") ",'response':{'mcpIsError':'yes'}}",
          "response.mcpIsError");
    fails(e, "{" TOOL("a") ",'oneOf':{'responses':[{},{'mcpIsError':1}]}}",
          "oneOf.responses[1].mcpIsError");
    fails(e, "{" TOOL("a") ",'response':{'payload':'$.req.a..b'}}",
          "response.payload");
    /* exactly one protocol section */
    fails(e, "{'http':{'route':'/a'}," TOOL("a") "," OK "}", "mcp");

    /* a refused mock leaves nothing behind, and validate says the same */
    assert_int_equal(dp_engine_mock_count(e, 0), 0);
    json_t *m = jq("{'mcp':{'method':'tools/call'}," OK "}");
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_validate(e, m, NULL, &err), -EINVAL);
    assert_string_equal(err.field, "mcp.tool");
    assert_string_equal(err.message, "required for tools/call");
    json_decref(m);
    /* nothing listed either */
    list_is(e, NULL, NULL, "tools/list", "{'tools':[]}");

    /* the accepted forms */
    put(e,
        "{'mcp':{'method':'tools/call','tool':'a','serverName':'',"
        "'description':'d','inputSchema':{'type':'object'},"
        "'outputSchema':{'type':'object'},'annotations':{'readOnlyHint':"
        "true},'title':'A','conditions':[]},'response':{'mcpIsError':null}}");
    put(e, "{'mcp':{'method':'resources/read','resource':"
           "'file:///etc/x?y=1#z','mimeType':'text/plain','name':'x'}," OK "}");
    put(e, "{'mcp':{'method':'prompts/get','prompt':'p','arguments':[{'name':"
           "'a','description':'x','required':true},{'name':'b'}]}," OK "}");
    assert_int_equal(dp_engine_mock_count(e, 0), 3);
    dp_engine_close(e);
}

/* ---- calls -------------------------------------------------------------- */

static void test_call_conditions_and_templates(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char paris[64], fallback[64];
    strcpy(paris,
           put(e, "{'id':'weather','namespace':'agents','mcp':{'method':"
                  "'tools/call','tool':'get_weather','conditions':[{'path':"
                  "'$.city','assertAction':'equals','value':'Paris'}]},"
                  "'priority':1,'response':{'payload':{'content':[{'type':"
                  "'text','text':'Sunny in $.req.city, $.req.days days'}]}}}"));
    strcpy(fallback,
           put(e, "{'namespace':'agents','mcp':{'method':'tools/call','tool':"
                  "'get_weather','conditions':[{'path':'$.city','assertAction':"
                  "'matches','value':'^L'}]},'response':{'payload':"
                  "{'content':[{'type':'text','text':'Rain'}]}}}"));
    doppel_reply_t *r = mcp(e, CALL(.ns = "agents", .method = "tools/call",
                                    .target = "get_weather",
                                    .body = "{\"city\":\"Paris\",\"days\":3}"));
    assert_int_equal(r->kind, DOPPEL_REPLY_RESPONSE);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->flags & DOPPEL_REPLY_F_IS_ERROR, 0);
    assert_string_equal(t_header(r, "Content-Type"), "application/json");
    body_is(r, "{'content':[{'type':'text','text':'Sunny in Paris, 3 days'}]}");
    assert_int_equal(r->mock_id.len, strlen(paris));
    dp_engine_reply_free(r);
    assert_string_equal(
        who(e, CALL(.ns = "agents", .method = "tools/call",
                    .target = "get_weather", .body = "{\"city\":\"Lyon\"}")),
        fallback);
    /* another namespace, another tool, another method: nothing */
    assert_string_equal(
        who(e, CALL(.method = "tools/call", .target = "get_weather",
                    .body = "{\"city\":\"Paris\"}")),
        "");
    assert_string_equal(
        who(e, CALL(.ns = "agents", .method = "tools/call",
                    .target = "get_weathe", .body = "{\"city\":\"Paris\"}")),
        "");
    assert_string_equal(
        who(e, CALL(.ns = "agents", .method = "prompts/get",
                    .target = "get_weather", .body = "{\"city\":\"Paris\"}")),
        "");
    /* the method is compared as sent */
    assert_string_equal(
        who(e, CALL(.ns = "agents", .method = "TOOLS/CALL",
                    .target = "get_weather", .body = "{\"city\":\"Paris\"}")),
        "");
    /* the matched call is in the journal with its arguments */
    json_t *out = NULL;
    assert_int_equal(dp_engine_journal(e, "agents", 0, 0, &out), 0);
    json_t *it = json_array_get(json_object_get(out, "items"), 1);
    assert_string_equal(json_string_value(json_object_get(it, "protocol")),
                        "mcp");
    assert_string_equal(json_string_value(json_object_get(it, "method")),
                        "tools/call");
    assert_string_equal(json_string_value(json_object_get(it, "path")),
                        "get_weather");
    assert_string_equal(json_string_value(json_object_get(it, "mockId")),
                        paris);
    assert_string_equal(json_string_value(json_object_get(it, "body")),
                        "{\"city\":\"Paris\",\"days\":3}");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(it, "headers"), "authorization")),
                        "[REDACTED]");
    json_decref(out);
    dp_engine_close(e);
}

/* Resource URIs and prompt names are matched verbatim: slashes, '?', '%'. */
static void test_resources_and_prompts(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char res[64], res2[64], pr[64];
    strcpy(res, put(e, "{'mcp':{'method':'resources/read','resource':"
                       "'file:///docs/a%20b.txt?v=1'},'response':{'payload':"
                       "{'contents':[{'uri':'$.req.uri','text':'hi'}]}}}"));
    strcpy(res2, put(e, "{'mcp':{'method':'resources/read','resource':"
                        "'file:///docs/a b.txt'}," OK "}"));
    strcpy(pr, put(e, "{'mcp':{'method':'prompts/get','prompt':'review',"
                      "'conditions':[{'path':'$.lang','assertAction':"
                      "'equals','value':'c'}]},'response':{'payload':"
                      "{'messages':[{'role':'user','content':{'type':'text',"
                      "'text':'Review $.req.lang'}}]}}}"));
    doppel_reply_t *r =
        mcp(e, CALL(.method = "resources/read",
                    .target = "file:///docs/a%20b.txt?v=1",
                    .body = "{\"uri\":\"file:///docs/a%20b.txt?v=1\"}"));
    assert_int_equal(r->mock_id.len, strlen(res));
    assert_memory_equal(r->mock_id.ptr, res, strlen(res));
    body_is(r, "{'contents':[{'uri':'file:///docs/a%20b.txt?v=1',"
               "'text':'hi'}]}");
    dp_engine_reply_free(r);
    /* not percent-decoded, not split on '/' */
    assert_string_equal(who(e, CALL(.method = "resources/read",
                                    .target = "file:///docs/a b.txt")),
                        res2);
    assert_string_equal(who(e, CALL(.method = "resources/read",
                                    .target = "file://docs/a b.txt")),
                        "");
    assert_string_equal(who(e, CALL(.method = "resources/read",
                                    .target = "file:///docs/a%20b.txt")),
                        "");
    r = mcp(e, CALL(.method = "prompts/get", .target = "review",
                    .body = "{\"lang\":\"c\"}"));
    body_is(r, "{'messages':[{'role':'user','content':{'type':'text',"
               "'text':'Review c'}}]}");
    dp_engine_reply_free(r);
    assert_string_equal(who(e, CALL(.method = "prompts/get", .target = "review",
                                    .body = "{\"lang\":\"go\"}")),
                        "");
    dp_engine_close(e);
}

static void test_is_error_and_answers(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    dp_engine_set_clock(e, fake_clock, NULL);
    put(e,
        "{" TOOL(
            "fail") ",'response':{'mcpIsError':true,'delay':25,"
                    "'payload':{'content':[{'type':'text','text':'boom'}]}}}");
    put(e,
        "{" TOOL(
            "flip") ",'oneOf':{'order':'order','responses':["
                    "{'payload':{'content':[]}},{'mcpIsError':true,'payload':"
                    "'plain $.req.x'}]}}");
    doppel_reply_t *r =
        mcp(e, CALL(.method = "tools/call", .target = "fail", .body = "{}"));
    assert_int_equal(r->kind, DOPPEL_REPLY_RESPONSE);
    assert_true(r->flags & DOPPEL_REPLY_F_IS_ERROR);
    assert_int_equal(r->delay_ms, 25);
    body_is(r, "{'content':[{'type':'text','text':'boom'}]}");
    dp_engine_reply_free(r);
    r = mcp(
        e, CALL(.method = "tools/call", .target = "flip", .body = "{\"x\":1}"));
    assert_int_equal(r->flags & DOPPEL_REPLY_F_IS_ERROR, 0);
    dp_engine_reply_free(r);
    r = mcp(
        e, CALL(.method = "tools/call", .target = "flip", .body = "{\"x\":1}"));
    assert_true(r->flags & DOPPEL_REPLY_F_IS_ERROR);
    /* a string payload is text: the plugin wraps it */
    assert_string_equal(t_header(r, "Content-Type"),
                        "text/plain; charset=utf-8");
    char *b = t_body(r);
    assert_string_equal(b, "plain 1");
    free(b);
    dp_engine_reply_free(r);

    /* priority, then the newer mock; useLimiter, ttl and extract as for
     * http */
    char lo[64], hi[64], ext[64];
    strcpy(lo, put(e, "{" TOOL("p") "," OK "}"));
    strcpy(hi, put(e, "{" TOOL("p") ",'priority':2,'useLimiter':1," OK "}"));
    assert_string_equal(who(e, CALL(.method = "tools/call", .target = "p")),
                        hi);
    assert_string_equal(who(e, CALL(.method = "tools/call", .target = "p")),
                        lo);
    put(e, "{" TOOL("t") ",'ttl':10," OK "}");
    assert_string_not_equal(who(e, CALL(.method = "tools/call", .target = "t")),
                            "");
    fake_now += 10;
    assert_string_equal(who(e, CALL(.method = "tools/call", .target = "t")),
                        "");
    strcpy(
        ext,
        put(e,
            "{" TOOL(
                "remember") ",'extract':{'gStore':{'last':"
                            "'$.req.note'}},'response':{'payload':{'content':"
                            "[{'type':'text','text':'saved $.gS.last'}]}}}"));
    r = mcp(e, CALL(.method = "tools/call", .target = "remember",
                    .body = "{\"note\":\"milk\"}"));
    body_is(r, "{'content':[{'type':'text','text':'saved milk'}]}");
    dp_engine_reply_free(r);
    json_t *v = NULL;
    dp_err_t err = {0};
    assert_int_equal(
        dp_engine_store_get(e, "sandbox", 'g', NULL, "last", &v, &err), 0);
    assert_string_equal(json_string_value(v), "milk");
    json_decref(v);
    dp_engine_close(e);
}

/* ---- lists -------------------------------------------------------------- */

static void test_lists(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    dp_engine_set_clock(e, fake_clock, NULL);
    /* two mocks of one tool: one entry; the description of the
     * higher-priority one, the inputSchema of the only one that has it */
    put(e, "{'mcp':{'method':'tools/call','tool':'zeta','description':'low',"
           "'inputSchema':{'type':'object','properties':{'q':{'type':"
           "'string'}}}}," OK "}");
    put(e, "{'mcp':{'method':'tools/call','tool':'zeta','description':'high',"
           "'conditions':[{'path':'$.q','assertAction':'equals','value':'x'}]},"
           "'priority':3," OK "}");
    put(e, "{'mcp':{'method':'tools/call','tool':'alpha'}," OK "}");
    char closed[64], used[64];
    strcpy(closed,
           put(e, "{'mcp':{'method':'tools/call','tool':'closed'}," OK "}"));
    strcpy(used, put(e, "{'mcp':{'method':'tools/call','tool':'once'},"
                        "'useLimiter':1," OK "}"));
    put(e, "{'mcp':{'method':'tools/call','tool':'soon_gone'},'ttl':5," OK "}");
    /* other servers and namespaces do not show */
    put(e, "{'mcp':{'method':'tools/call','tool':'other','serverName':'b'}," OK
           "}");
    put(e,
        "{'namespace':'n2','mcp':{'method':'tools/call','tool':'far'}," OK "}");
    /* nor do the other methods */
    put(e, "{'mcp':{'method':'resources/read','resource':'mem://b',"
           "'description':'B'}," OK "}");
    put(e, "{'mcp':{'method':'resources/read','resource':'mem://a',"
           "'name':'A','mimeType':'text/plain'}," OK "}");
    put(e, "{'mcp':{'method':'prompts/get','prompt':'greet','arguments':"
           "[{'name':'who','required':true}],'title':'Greet'}," OK "}");
    put(e, "{'mcp':{'method':'prompts/get','prompt':'bye'}," OK "}");
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_close(e, closed, NULL, &err), 0);

    list_is(e, NULL, NULL, "tools/list",
            "{'tools':[{'name':'alpha','inputSchema':{'type':'object'}},"
            "{'name':'once','inputSchema':{'type':'object'}},"
            "{'name':'soon_gone','inputSchema':{'type':'object'}},"
            "{'name':'zeta','description':'high','inputSchema':{'type':"
            "'object','properties':{'q':{'type':'string'}}}}]}");
    /* the empty server name is the default server */
    list_is(e, NULL, "", "tools/list",
            "{'tools':[{'name':'alpha','inputSchema':{'type':'object'}},"
            "{'name':'once','inputSchema':{'type':'object'}},"
            "{'name':'soon_gone','inputSchema':{'type':'object'}},"
            "{'name':'zeta','description':'high','inputSchema':{'type':"
            "'object','properties':{'q':{'type':'string'}}}}]}");
    list_is(e, NULL, "b", "tools/list",
            "{'tools':[{'name':'other','inputSchema':{'type':'object'}}]}");
    list_is(e, NULL, "nope", "tools/list", "{'tools':[]}");
    list_is(e, "n2", NULL, "tools/list",
            "{'tools':[{'name':'far','inputSchema':{'type':'object'}}]}");
    list_is(e, "empty-ns", NULL, "prompts/list", "{'prompts':[]}");
    list_is(e, NULL, NULL, "resources/list",
            "{'resources':[{'uri':'mem://a','name':'A','mimeType':"
            "'text/plain'},{'uri':'mem://b','name':'mem://b',"
            "'description':'B'}]}");
    list_is(e, NULL, NULL, "prompts/list",
            "{'prompts':[{'name':'bye'},{'name':'greet','title':'Greet',"
            "'arguments':[{'name':'who','required':true}]}]}");

    /* used up and expired mocks leave the list; a restored one returns */
    assert_string_equal(who(e, CALL(.method = "tools/call", .target = "once")),
                        used);
    fake_now += 5;
    assert_int_equal(dp_engine_mock_restore(e, closed, NULL, &err), 0);
    list_is(e, NULL, NULL, "tools/list",
            "{'tools':[{'name':'alpha','inputSchema':{'type':'object'}},"
            "{'name':'closed','inputSchema':{'type':'object'}},"
            "{'name':'zeta','description':'high','inputSchema':{'type':"
            "'object','properties':{'q':{'type':'string'}}}}]}");

    /* a patch that moves a tool to another server moves it in the lists */
    json_t *patch = jq("{'mcp':{'serverName':'b'}}");
    assert_int_equal(dp_engine_mock_patch(e, closed, patch, NULL, &err), 0);
    json_decref(patch);
    list_is(e, NULL, "b", "tools/list",
            "{'tools':[{'name':'closed','inputSchema':{'type':'object'}},"
            "{'name':'other','inputSchema':{'type':'object'}}]}");

    /* list calls are journalled as matched requests without a mock id */
    json_t *out = NULL;
    assert_int_equal(dp_engine_journal(e, "sandbox", 0, 1, &out), 0);
    json_t *it = json_array_get(json_object_get(out, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(it, "method")),
                        "tools/list");
    assert_int_equal(json_integer_value(json_object_get(it, "status")), 200);
    assert_null(json_object_get(it, "mockId"));
    json_decref(out);
    assert_int_equal(dp_engine_unmatched(e, "sandbox", 0, 0, &out), 0);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
    json_decref(out);
    dp_engine_close(e);
}

/* Names with characters JSON must escape come out as valid JSON. */
static void test_list_escaping(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    put(e, "{'mcp':{'method':'tools/call','tool':'q\\\"uote\\\\ \\u00e9',"
           "'description':'line\\u2028two </script>'}," OK "}");
    list_is(e, NULL, NULL, "tools/list",
            "{'tools':[{'name':'q\\\"uote\\\\ \\u00e9','description':"
            "'line\\u2028two </script>','inputSchema':{'type':'object'}}]}");
    assert_string_not_equal(
        who(e, CALL(.method = "tools/call", .target = "q\"uote\\ \xc3\xa9")),
        "");
    dp_engine_close(e);
}

/* ---- misses ------------------------------------------------------------- */

static json_t *miss(dp_engine_t *e, const call_t *c)
{
    doppel_reply_t *r = mcp(e, c);
    assert_int_equal(r->kind, DOPPEL_REPLY_NO_MATCH);
    assert_int_equal(r->status, 404);
    assert_int_equal(r->mock_id.len, 0);
    json_t *b = body_json(r);
    dp_engine_reply_free(r);
    return b;
}

static void test_misses(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    dp_engine_set_clock(e, fake_clock, NULL);
    char w[64];
    strcpy(w, put(e, "{'id':'w','mcp':{'method':'tools/call','tool':"
                     "'get_weather','serverName':'s1','conditions':[{'path':"
                     "'$.city','assertAction':'equals','value':'Paris'}]}," OK
                     "}"));
    put(e, "{'id':'gone','mcp':{'method':'tools/call','tool':'gone'}," OK "}");
    put(e, "{'id':'used','mcp':{'method':'tools/call','tool':'used'},"
           "'useLimiter':1," OK "}");
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_close(e, "gone", NULL, &err), 0);

    /* a known tool whose conditions fail */
    json_t *b =
        miss(e, CALL(.server = "s1", .method = "tools/call",
                     .target = "get_weather", .body = "{\"city\":\"Oslo\"}"));
    assert_true(json_is_true(json_object_get(b, "known")));
    assert_string_equal(json_string_value(json_object_get(b, "code")),
                        "not_found");
    json_t *req = json_object_get(b, "request");
    assert_string_equal(json_string_value(json_object_get(req, "method")),
                        "tools/call");
    assert_string_equal(json_string_value(json_object_get(req, "path")),
                        "get_weather");
    assert_string_equal(json_string_value(json_object_get(req, "server")),
                        "s1");
    json_t *nm = json_array_get(json_object_get(b, "nearMisses"), 0);
    assert_string_equal(json_string_value(json_object_get(nm, "mockId")), w);
    assert_string_equal(json_string_value(json_object_get(nm, "route")),
                        "get_weather");
    json_t *f = json_array_get(json_object_get(nm, "failed"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "where")), "body");
    assert_string_equal(json_string_value(json_object_get(f, "path")),
                        "$.city");
    json_decref(b);

    /* unknown: no such tool, the same tool on another server, a closed or
     * used-up tool, an unknown method */
    b = miss(e, CALL(.server = "s1", .method = "tools/call", .target = "nope",
                     .body = "{}"));
    assert_true(json_is_false(json_object_get(b, "known")));
    assert_int_equal(json_array_size(json_object_get(b, "nearMisses")), 0);
    json_decref(b);
    b = miss(e, CALL(.method = "tools/call", .target = "get_weather",
                     .body = "{\"city\":\"Paris\"}"));
    assert_true(json_is_false(json_object_get(b, "known")));
    json_decref(b);
    b = miss(e, CALL(.method = "tools/call", .target = "gone"));
    assert_true(json_is_false(json_object_get(b, "known")));
    nm = json_array_get(json_object_get(b, "nearMisses"), 0);
    f = json_array_get(json_object_get(nm, "failed"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "where")),
                        "state");
    json_decref(b);
    assert_string_equal(who(e, CALL(.method = "tools/call", .target = "used")),
                        "used");
    b = miss(e, CALL(.method = "tools/call", .target = "used"));
    assert_true(json_is_false(json_object_get(b, "known")));
    json_decref(b);
    b = miss(e, CALL(.method = "resources/templates/list"));
    assert_true(json_is_false(json_object_get(b, "known")));
    json_decref(b);
    b = miss(e, CALL(.method = "Tools/List"));
    assert_true(json_is_false(json_object_get(b, "known")));
    json_decref(b);

    /* every miss is in the unmatched list, newest first, with its near
     * misses; none in the journal but the one matched call */
    json_t *out = NULL;
    assert_int_equal(dp_engine_unmatched(e, "sandbox", 0, 0, &out), 0);
    json_t *items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 7);
    json_t *oldest = json_array_get(items, 6);
    assert_string_equal(json_string_value(json_object_get(oldest, "protocol")),
                        "mcp");
    assert_string_equal(json_string_value(json_object_get(oldest, "method")),
                        "tools/call");
    assert_string_equal(json_string_value(json_object_get(oldest, "path")),
                        "get_weather");
    assert_string_equal(json_string_value(json_object_get(oldest, "body")),
                        "{\"city\":\"Oslo\"}");
    assert_int_equal(json_integer_value(json_object_get(oldest, "status")),
                     404);
    assert_int_equal(json_array_size(json_object_get(oldest, "nearMisses")), 1);
    json_decref(out);
    assert_int_equal(dp_engine_journal(e, "sandbox", 0, 0, &out), 0);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
    json_decref(out);
    dp_engine_close(e);
}

/* ---- hostile input ------------------------------------------------------ */

static void test_hostile(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    put(e, "{'id':'c','mcp':{'method':'tools/call','tool':'t','conditions':"
           "[{'path':'$.a','assertAction':'equals','value':1}]},"
           "'response':{'payload':{'content':[{'type':'text','text':"
           "'a=$.req.a'}]}}}");
    put(e, "{'id':'any','mcp':{'method':'tools/call','tool':'any'},"
           "'response':{'payload':{'content':[{'type':'text','text':"
           "'a=$.req.a'}]}}}");

    /* huge arguments: matched, journalled truncated */
    size_t n = 4u << 20;
    char *huge = malloc(n + 32);
    int off = snprintf(huge, 32, "{\"a\":1,\"pad\":\"");
    memset(huge + off, 'x', n);
    strcpy(huge + off + n, "\"}");
    assert_string_equal(
        who(e, CALL(.method = "tools/call", .target = "t", .body = huge)), "c");
    json_t *out = NULL;
    assert_int_equal(dp_engine_journal(e, NULL, 0, 1, &out), 0);
    json_t *it = json_array_get(json_object_get(out, "items"), 0);
    assert_true(json_is_true(json_object_get(it, "truncated")));
    assert_int_equal(json_integer_value(json_object_get(it, "bodySize")),
                     (json_int_t)strlen(huge));
    json_decref(out);
    free(huge);

    /* deep JSON: not parsed (jansson's depth limit), the condition fails */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 16);
    char *p = deep;
    for (size_t i = 0; i < depth; i++)
        *p++ = '[';
    for (size_t i = 0; i < depth; i++)
        *p++ = ']';
    *p = '\0';
    json_t *b =
        miss(e, CALL(.method = "tools/call", .target = "t", .body = deep));
    assert_true(json_is_true(json_object_get(b, "known")));
    json_decref(b);
    doppel_reply_t *r =
        mcp(e, CALL(.method = "tools/call", .target = "any", .body = deep));
    assert_int_equal(r->kind, DOPPEL_REPLY_RESPONSE);
    dp_engine_reply_free(r);
    free(deep);

    /* arguments that are not an object, or not JSON */
    static const char *const bad[] = {
        "[1,2]", "\"a\"", "1", "null", "{\"a\":", "\xff\xfe", "{\"a\":1}x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        b = miss(e,
                 CALL(.method = "tools/call", .target = "t", .body = bad[i]));
        assert_true(json_is_true(json_object_get(b, "known")));
        json_decref(b);
        r = mcp(e,
                CALL(.method = "tools/call", .target = "any", .body = bad[i]));
        assert_int_equal(r->kind, DOPPEL_REPLY_RESPONSE);
        /* the template finds no argument: an empty value, still JSON */
        json_t *v = body_json(r);
        assert_non_null(json_object_get(v, "content"));
        json_decref(v);
        dp_engine_reply_free(r);
    }
    /* no body at all */
    b = miss(e, CALL(.method = "tools/call", .target = "t"));
    json_decref(b);

    /* NUL bytes in the target or the server, a huge target, a huge
     * operation: no match, no crash */
    static const char tnul[] = "t\0x";
    doppel_exchange_t x = {0};
    x.size = sizeof(x);
    x.protocol = DOPPEL_STR("mcp");
    x.operation = DOPPEL_STR("tools/call");
    x.target = (doppel_str_t){tnul, 3};
    x.body = (const uint8_t *)"{\"a\":1}";
    x.body_len = 7;
    assert_int_equal(dp_engine_match(e, &x, &r), 0);
    assert_int_equal(r->kind, DOPPEL_REPLY_NO_MATCH);
    dp_engine_reply_free(r);
    x.target = DOPPEL_STR("t");
    x.server = (doppel_str_t){tnul, 3};
    assert_int_equal(dp_engine_match(e, &x, &r), 0);
    assert_int_equal(r->kind, DOPPEL_REPLY_NO_MATCH);
    dp_engine_reply_free(r);
    x.operation = DOPPEL_STR("tools/list");
    assert_int_equal(dp_engine_match(e, &x, &r), 0);
    assert_int_equal(r->kind, DOPPEL_REPLY_RESPONSE);
    body_is(r, "{'tools':[]}");
    dp_engine_reply_free(r);
    /* an exchange of an older plugin, without the server field: the
     * default server */
    x.server = (doppel_str_t){0};
    x.size = (uint32_t)offsetof(doppel_exchange_t, server);
    x.operation = DOPPEL_STR("tools/call");
    assert_int_equal(dp_engine_match(e, &x, &r), 0);
    assert_int_equal(r->kind, DOPPEL_REPLY_RESPONSE);
    dp_engine_reply_free(r);
    x.size = sizeof(x);
    char *long_t = malloc(1 << 20);
    memset(long_t, 't', 1 << 20);
    x.target = (doppel_str_t){long_t, 1 << 20};
    assert_int_equal(dp_engine_match(e, &x, &r), 0);
    assert_int_equal(r->kind, DOPPEL_REPLY_NO_MATCH);
    dp_engine_reply_free(r);
    x.operation = (doppel_str_t){long_t, 1 << 20};
    x.target = DOPPEL_STR("t");
    assert_int_equal(dp_engine_match(e, &x, &r), 0);
    assert_int_equal(r->kind, DOPPEL_REPLY_NO_MATCH);
    dp_engine_reply_free(r);
    free(long_t);
    dp_engine_close(e);
}

/* Many tools on one server, many mocks on one tool: lists stay exact and
 * the call finds its mock among them (value index over the arguments). */
static void test_many(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    json_t *batch = json_array();
    for (int i = 0; i < 300; i++) {
        char txt[256];
        snprintf(txt, sizeof(txt),
                 "{'id':'m%d','mcp':{'method':'tools/call','tool':'tool%03d',"
                 "'conditions':[{'path':'$.k','assertAction':'equals',"
                 "'value':'k%d'}]}," OK "}",
                 i, i % 10, i);
        json_array_append_new(batch, jq(txt));
    }
    json_t *st = NULL;
    dp_err_t err = {0};
    assert_int_equal(dp_engine_mock_put_batch(e, batch, NULL, &st, &err), 0);
    json_decref(st);
    json_decref(batch);
    doppel_reply_t *r = mcp(e, CALL(.method = "tools/list"));
    json_t *b = body_json(r);
    json_t *tools = json_object_get(b, "tools");
    assert_int_equal(json_array_size(tools), 10);
    for (size_t i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof(name), "tool%03zu", i);
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(tools, i), "name")),
                            name);
    }
    json_decref(b);
    dp_engine_reply_free(r);
    assert_string_equal(who(e, CALL(.method = "tools/call", .target = "tool007",
                                    .body = "{\"k\":\"k257\"}")),
                        "m257");
    json_t *m = miss(e, CALL(.method = "tools/call", .target = "tool007",
                             .body = "{\"k\":\"k258\"}"));
    assert_true(json_is_true(json_object_get(m, "known")));
    assert_true(json_array_size(json_object_get(m, "nearMisses")) > 0);
    json_decref(m);
    dp_engine_close(e);
}

/* mcp.header: conditions on the HTTP request that carried the call; and
 * the Go SDK's "$.body.arguments.x" spelling of an argument's path. */
static void test_header_conditions_and_go_paths(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char gold[160], go[160];
    strcpy(gold, put(e, "{'mcp':{'method':'tools/call','tool':'t','header':"
                        "[{'path':'x-tier','assertAction':'equals','value':"
                        "'gold'}]},'priority':1," OK "}"));
    strcpy(go, put(e, "{'mcp':{'method':'tools/call','tool':'t','conditions':"
                      "[{'path':'$.body.arguments.city','assertAction':"
                      "'equals','value':'Oslo'}]}," OK "}"));
    /* header names are matched case-insensitively */
    assert_string_equal(who(e, CALL(.method = "tools/call", .target = "t",
                                    .body = "{}", .hname = "X-Tier",
                                    .hval = "gold")),
                        gold);
    assert_string_equal(who(e, CALL(.method = "tools/call", .target = "t",
                                    .body = "{}", .hname = "X-Tier",
                                    .hval = "silver")),
                        "");
    assert_string_equal(who(e, CALL(.method = "tools/call", .target = "t",
                                    .body = "{\"city\":\"Oslo\"}")),
                        go);
    /* the stored mock keeps the path as it was sent */
    json_t *got = NULL;
    dp_err_t err;
    assert_int_equal(dp_engine_mock_get(e, go, &got, &err), 0);
    json_t *c0 = json_array_get(
        json_object_get(json_object_get(got, "mcp"), "conditions"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "path")),
                        "$.body.arguments.city");
    json_decref(got);
    fails(e, "{'mcp':{'method':'tools/call','tool':'u','header':{}}," OK "}",
          "mcp.header");
    dp_engine_close(e);
}

/* The platforms' top-level serverName is the server of an mcp mock that
 * names none in its section. */
static void test_top_level_server_name(void **state)
{
    (void)state;
    dp_engine_t *e = t_open();
    char id[160];
    strcpy(id, put(e, "{'serverName':'tools'," TOOL("top") "," OK "}"));
    assert_string_equal(
        who(e, CALL(.server = "tools", .method = "tools/call", .target = "top",
                    .body = "{}")),
        id);
    assert_string_equal(
        who(e, CALL(.method = "tools/call", .target = "top", .body = "{}")),
        "");
    /* the same name in both places is fine; two different names are not */
    put(e, "{'serverName':'tools','mcp':{'method':'tools/call','tool':'b',"
           "'serverName':'tools'}," OK "}");
    fails(e,
          "{'serverName':'a','mcp':{'method':'tools/call','tool':'c',"
          "'serverName':'b'}," OK "}",
          "serverName");
    fails(e, "{'serverName':'a/b'," TOOL("d") "," OK "}", "serverName");
    fails(e, "{'serverName':7," TOOL("d") "," OK "}", "serverName");
    fails(e, "{'pathPrefix':'/x'," TOOL("d") "," OK "}", "pathPrefix");
    dp_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_top_level_server_name),
        cmocka_unit_test(test_header_conditions_and_go_paths),
        cmocka_unit_test(test_call_conditions_and_templates),
        cmocka_unit_test(test_resources_and_prompts),
        cmocka_unit_test(test_is_error_and_answers),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_list_escaping),
        cmocka_unit_test(test_misses),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
