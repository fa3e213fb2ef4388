/*
 * The plugin series of the metrics registry: found again by name and
 * labels however many there are, kept apart by kind, and listed in the
 * order they first appeared.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/metrics.h"

#define N_SERIES 5000

static void many_series_are_found_again(void **state)
{
    (void)state;
    dp_metrics_t *m = dp_metrics_new(1);
    assert_non_null(m);
    char lab[64];
    /* twice over: the second pass must land in the series of the first */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < N_SERIES; i++) {
            snprintf(lab, sizeof(lab), "method=\"Op%d\"", i);
            assert_int_equal(
                dp_metrics_plugin_add(m, "soap", "calls", lab, (uint64_t)i + 1),
                0);
        }
    /* the same labels under another name or plugin are other series */
    assert_int_equal(dp_metrics_plugin_add(m, "graphql", "calls",
                                           "method=\"Op7\"", 5),
                     0);
    assert_int_equal(dp_metrics_plugin_add(m, "soap", "faults",
                                           "method=\"Op7\"", 9),
                     0);
    assert_int_equal(dp_metrics_plugin_add(m, "soap", "calls", NULL, 4), 0);
    size_t len = 0;
    char *text = dp_metrics_render(m, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    char want[128];
    for (int i = 0; i < N_SERIES; i += 499) {
        snprintf(want, sizeof(want),
                 "doppel_plugin_calls_total{plugin=\"soap\",method=\"Op%d\"} "
                 "%d\n",
                 i, 2 * (i + 1));
        assert_non_null(strstr(text, want));
    }
    assert_non_null(strstr(
        text, "doppel_plugin_calls_total{plugin=\"graphql\",method=\"Op7\"} 5\n"));
    assert_non_null(strstr(
        text, "doppel_plugin_faults_total{plugin=\"soap\",method=\"Op7\"} 9\n"));
    assert_non_null(
        strstr(text, "doppel_plugin_calls_total{plugin=\"soap\"} 4\n"));
    /* each series once, in the order it was first counted */
    const char *a = strstr(text, "method=\"Op0\"}");
    const char *b = strstr(text, "method=\"Op1\"}");
    const char *c = strstr(text, "method=\"Op4999\"}");
    assert_true(a && b && c && a < b && b < c);
    assert_null(strstr(a + 1, "plugin=\"soap\",method=\"Op0\"}"));
    free(text);
    dp_metrics_free(m);
}

static void a_counter_name_is_not_a_gauge(void **state)
{
    (void)state;
    dp_metrics_t *m = dp_metrics_new(1);
    assert_non_null(m);
    assert_int_equal(dp_metrics_gauge_set(m, "doppel_plugin_loaded",
                                          "plugin=\"http\"", 1),
                     0);
    assert_int_equal(dp_metrics_gauge_set(m, "doppel_plugin_loaded",
                                          "plugin=\"http\"", 0),
                     0);
    assert_int_equal(dp_metrics_plugin_add(m, "x", "loaded", NULL, 1), 0);
    /* the counter's full name taken as a gauge: refused, nothing made */
    assert_int_equal(
        dp_metrics_gauge_set(m, "doppel_plugin_loaded_total",
                             "plugin=\"x\"", 2),
        -EINVAL);
    size_t len = 0;
    char *text = dp_metrics_render(m, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "doppel_plugin_loaded{plugin=\"http\"} 0\n"));
    assert_non_null(strstr(text, "doppel_plugin_loaded_total{plugin=\"x\"} 1\n"));
    free(text);
    dp_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_series_are_found_again),
        cmocka_unit_test(a_counter_name_is_not_a_gauge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
