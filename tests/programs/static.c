/* Built with -static: reads /etc/passwd, loads a time zone and the CA bundle
   without any shared library. Prints "ok" or the first failure. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(void) {
    char line[512];
    int nonroot = 0, certs = 0;
    FILE *f = fopen("/etc/passwd", "r");
    if (!f) { puts("no /etc/passwd"); return 1; }
    while (fgets(line, sizeof line, f)) if (strncmp(line, "nonroot:x:65532:", 16) == 0) nonroot = 1;
    fclose(f);
    if (!nonroot) { puts("nonroot missing"); return 1; }
    setenv("TZ", "Europe/Paris", 1);
    tzset();
    time_t t = 1704110400; /* 2024-01-01T12:00:00Z */
    struct tm tm;
    localtime_r(&t, &tm);
    if (tm.tm_gmtoff != 3600) { printf("tz offset %ld\n", tm.tm_gmtoff); return 1; }
    f = fopen("/etc/ssl/certs/ca-certificates.crt", "r");
    if (!f) { puts("no CA bundle"); return 1; }
    while (fgets(line, sizeof line, f)) if (strstr(line, "BEGIN CERTIFICATE")) certs++;
    fclose(f);
    if (certs < 100) { printf("certs %d\n", certs); return 1; }
    printf("ok certs=%d\n", certs);
    return 0;
}
