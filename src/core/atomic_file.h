/*
 * Whole-file writes that a reader, or a power cut, sees either before or after, never half done:
 * the data goes to PATH.tmp, is synced, renamed over PATH, and the directory is synced. Blocking
 * system calls: run it in libuv's thread pool, never on the loop.
 */
#ifndef TAPBOX_ATOMIC_FILE_H
#define TAPBOX_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p: the parents 0755, dir itself mode. 0, or -1 with errno. */
int make_dirs(const char *dir, mode_t mode);

/* dir is created if missing (its parents 0755, itself dir_mode); the file gets mode. 0, or -1
 * with a reason naming the file in err. */
int atomic_file_write(const char *dir, mode_t dir_mode, const char *path, mode_t mode,
                      const char *data, size_t len, char *err, size_t errsize);

#endif
