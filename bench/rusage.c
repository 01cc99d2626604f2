/* Runs one command and writes its own resource use to a file, for bench/bench.py:
 *   rusage OUT_FILE COMMAND [ARG ...]
 * OUT_FILE gets "<exit code> <user s> <sys s> <peak RSS KiB>\n" for COMMAND (and the children it
 * waited for), from wait4. Why a launcher: a process forked from the Python harness and then exec'd
 * inherits the harness's peak RSS in ru_maxrss (Linux records the pre-exec address space's high
 * water mark), so a child measured directly from Python never reports less than the harness's RSS.
 * Forked from this small process instead, the command's ru_maxrss is its own. CPU is per process and
 * is not inherited either way. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: rusage OUT_FILE COMMAND [ARG ...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 2; }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror("exec");
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) { perror("wait4"); return 2; }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(argv[1], "w");
    if (!f) { perror("rusage: OUT_FILE"); return 2; }
    fprintf(f, "%d %ld.%06ld %ld.%06ld %ld\n", code, (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
            (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec, ru.ru_maxrss);
    fclose(f);
    return code;
}
