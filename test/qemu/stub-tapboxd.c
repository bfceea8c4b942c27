/* Stand-in for tapboxd while the real armhf build does not exist yet: it only
 * lets the image and the QEMU harness be exercised (start, supervision,
 * SIGTERM). It accounts no flows, so the harness's flow checks fail with it.
 * Build: arm-linux-gnueabihf-gcc -O2 -o build/armhf/stub/tapboxd stub-tapboxd.c */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	fprintf(stderr, "WARN main: stub tapboxd, %d options:", argc - 1);
	for (int i = 1; i < argc; i++)
		fprintf(stderr, " %s", argv[i]);
	fprintf(stderr, "\n");
	while (!stop)
		pause();
	fprintf(stderr, "INFO main: stub tapboxd stopping\n");
	return 0;
}
