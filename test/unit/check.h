/* A tiny unit-test harness: TEST(name) registers a test, CHECK(cond) records a failure. */
#ifndef TAPBOX_CHECK_H
#define TAPBOX_CHECK_H

#include <stdio.h>

void test_register(const char *name, void (*fn)(void));
extern int check_failures;

#define TEST(name)                                                                                 \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void register_##name(void) { test_register(#name, name); } \
    static void name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);            \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_U(a, b)                                                                           \
    do {                                                                                           \
        unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b);           \
        if (va_ != vb_) {                                                                          \
            fprintf(stderr, "  %s:%d: CHECK failed: %s == %s (%llu != %llu)\n", __FILE__,          \
                    __LINE__, #a, #b, va_, vb_);                                                   \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

/* Real captures for tests live outside the repo; NULL when absent (tests then say so). */
const char *test_pcap_dir(void);
void test_skip(const char *why);

#endif
