/*
 * replay.c - run a fuzz target once on every file of its committed corpus.
 *
 * Linked with one target (fuzz_<name>.c) as tests/fuzz/replay-<name>, built
 * with the ordinary compiler by `make check`, where it is one test: it
 * passes when every input runs through.  The corpus is
 * $top_srcdir/tests/fuzz/corpus/<name>/, or the files and folders given as
 * arguments.  Each input runs in a child process, so one that makes the
 * target abort (or a sanitizer stop it) is named, and the others still run.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            unsigned char *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        free(buf);
        return 1;
    }
    if (pid == 0) {
        /* A copy of exactly `len` bytes, so reading past the input is caught. */
        unsigned char *exact = malloc(len ? len : 1);
        if (!exact)
            _exit(1);
        memcpy(exact, buf, len);
        free(buf);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
        exit(0); /* not _exit: LeakSanitizer checks at exit */
    }
    free(buf);
    int status;
    if (waitpid(pid, &status, 0) < 0) {
        perror("waitpid");
        return 1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        printf("replay: FAILED on %s (signal %d)\n", path, WTERMSIG(status));
    else
        printf("replay: FAILED on %s (exit %d)\n", path, WEXITSTATUS(status));
    fflush(stdout);
    return 1;
}

/* Run `path`, a file or a folder of files (in name order); counts inputs. */
static int run_path(const char *path, int *count, int *failed)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        ++*count;
        int rc = run_file(path);
        *failed += rc;
        return rc;
    }
    DIR *d = opendir(path);
    if (!d) {
        perror(path);
        return 1;
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        size_t sz = strlen(path) + strlen(e->d_name) + 2;
        if (!nn || !(nn[n] = malloc(sz))) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        names = nn;
        snprintf(names[n++], sz, "%s/%s", path, e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        rc |= run_path(names[i], count, failed);
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0, count = 0, failed = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            rc |= run_path(argv[i], &count, &failed);
    } else {
        const char *top = getenv("top_srcdir");
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", top && *top ? top : ".", FUZZ_TARGET);
        rc = run_path(dir, &count, &failed);
    }
    if (failed)
        printf("replay %s: %d inputs, %d FAILED\n", FUZZ_TARGET, count, failed);
    else
        printf("replay %s: %d inputs, %s\n", FUZZ_TARGET, count, rc ? "FAILED" : "all passed");
    return rc ? 1 : 0;
}
