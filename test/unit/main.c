#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define MAX_TESTS 256

struct test_entry {
    const char *name;
    void (*fn)(void);
};
static struct test_entry tests[MAX_TESTS];
static int test_count;
int check_failures;
static const char *skip_reason;

void test_register(const char *name, void (*fn)(void))
{
    if (test_count < MAX_TESTS)
        tests[test_count++] = (struct test_entry){name, fn};
}

void test_skip(const char *why) { skip_reason = why; }

const char *test_pcap_dir(void)
{
    const char *dir = getenv("TAPBOX_PCAPS");
    if (!dir)
        dir = "../shared/pcaps/ndpi-4.2";
    return access(dir, R_OK) == 0 ? dir : NULL;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (int i = 0; i < test_count; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1]))
            continue;
        int before = check_failures;
        skip_reason = NULL;
        tests[i].fn();
        if (check_failures != before) {
            printf("FAIL %s\n", tests[i].name);
            failed++;
        } else if (skip_reason) {
            printf("skip %s: %s\n", tests[i].name, skip_reason);
        } else {
            printf("ok   %s\n", tests[i].name);
            passed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
