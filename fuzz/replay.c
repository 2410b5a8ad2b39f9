/*
 * Corpus replay for normal (gcc) builds: the main() that stands in for
 * libFuzzer, so every build runs each harness over its committed corpus as a
 * regression test. `replay_<target> DIR` feeds each regular file in DIR, in
 * sorted order, to LLVMFuzzerTestOneInput and prints TAP: "ok N - <file>" per
 * file, then "1..N". A broken property aborts the process (after a "not ok"
 * line naming the file), which tests/run.sh counts as a failure. An empty or
 * unreadable corpus is a failure too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input being replayed, for the SIGABRT handler. */
static size_t current_number;
static const char *current_name;

static void write_str(const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t done = write(STDOUT_FILENO, s, n);
		if (done <= 0)
			return;
		s += done;
		n -= (size_t)done;
	}
}

/*
 * Names the input that made a harness abort, then dies of the same signal.
 * Only write(2) here: the handler runs in whatever state abort() left.
 */
static void on_abort(int sig)
{
	char digits[24];
	size_t i = sizeof(digits);
	size_t n = current_number;

	digits[--i] = '\0';
	do {
		digits[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0 && i > 0);
	write_str("not ok ");
	write_str(digits + i);
	write_str(" - ");
	write_str(current_name ? current_name : "?");
	write_str(" (aborted)\n");
	signal(sig, SIG_DFL);
	raise(sig);
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Reads the regular file dirfd/name into a heap block of exactly its size, so
 * that a sanitizer build catches a harness reading past the input. Returns 0
 * or -errno.
 */
static int read_input(int dirfd, const char *name, uint8_t **data_out, size_t *size_out)
{
	struct buf content = BUF_INIT;
	uint8_t *data = NULL;
	int fd, err = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		buf_grow(&content, 65536);
		ssize_t got = read(fd, content.data + content.len, content.cap - content.len - 1);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		if (got == 0)
			break;
		buf_setlen(&content, content.len + (size_t)got);
	}
	/* malloc(0) may return NULL; libFuzzer never passes NULL. */
	data = malloc(content.len ? content.len : 1);
	if (!data) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(data, content.data, content.len);
	*data_out = data;
	*size_out = content.len;
out:
	close(fd);
	buf_release(&content);
	return err;
}

/* Collects the names of the regular files in dir, sorted. Returns 0 or -errno. */
static int list_inputs(DIR *dir, char ***names_out, size_t *count_out)
{
	char **names = NULL;
	size_t count = 0, cap = 0;
	struct dirent *entry;
	struct stat st;
	int err = 0;

	while ((errno = 0, entry = readdir(dir))) {
		if (entry->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(dir), entry->d_name, &st, 0) < 0) {
			err = -errno;
			goto out;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (count == cap) {
			cap = cap ? 2 * cap : 64;
			char **grown = realloc(names, cap * sizeof(*names));
			if (!grown) {
				err = -ENOMEM;
				goto out;
			}
			names = grown;
		}
		names[count] = strdup(entry->d_name);
		if (!names[count]) {
			err = -ENOMEM;
			goto out;
		}
		count++;
	}
	if (errno)
		err = -errno;
out:
	if (err) {
		for (size_t i = 0; i < count; i++)
			free(names[i]);
		free(names);
		return err;
	}
	qsort(names, count, sizeof(*names), compare_names);
	*names_out = names;
	*count_out = count;
	return 0;
}

int main(int argc, char **argv)
{
	char **names = NULL;
	size_t count = 0, failed = 0;
	DIR *dir;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	dir = opendir(argv[1]);
	if (!dir) {
		printf("not ok 1 - cannot open %s: %s\n1..1\n", argv[1], strerror(errno));
		return 1;
	}
	/* Only SIGABRT: sanitizer builds report the other signals better. */
	signal(SIGABRT, on_abort);
	err = list_inputs(dir, &names, &count);
	if (err) {
		printf("not ok 1 - cannot list %s: %s\n1..1\n", argv[1], strerror(-err));
		closedir(dir);
		return 1;
	}
	if (count == 0) {
		printf("not ok 1 - empty corpus\n1..1\n");
		closedir(dir);
		free(names);
		return 1;
	}
	for (size_t i = 0; i < count; i++) {
		uint8_t *data = NULL;
		size_t size = 0;
		err = read_input(dirfd(dir), names[i], &data, &size);
		if (err) {
			printf("not ok %zu - %s: %s\n", i + 1, names[i], strerror(-err));
			failed++;
		} else {
			/* Flushed first: the abort handler writes past stdio. */
			fflush(stdout);
			current_number = i + 1;
			current_name = names[i];
			LLVMFuzzerTestOneInput(data, size);
			printf("ok %zu - %s\n", i + 1, names[i]);
		}
		free(data);
		free(names[i]);
	}
	printf("1..%zu\n", count);
	free(names);
	closedir(dir);
	return failed ? 1 : 0;
}
