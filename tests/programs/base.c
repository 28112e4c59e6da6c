/* Dynamically linked against glibc: NSS lookups through /etc/nsswitch.conf. */
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int main(void) {
    struct passwd *pw = getpwnam("nonroot");
    if (!pw || pw->pw_uid != 65532) { puts("getpwnam(nonroot) failed"); return 1; }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    int rc = getaddrinfo("localhost", NULL, &hints, &res);
    if (rc != 0 || !res) { printf("getaddrinfo(localhost): %s\n", gai_strerror(rc)); return 1; }
    freeaddrinfo(res);
    printf("ok uid=%d home=%s\n", (int)pw->pw_uid, pw->pw_dir);
    return 0;
}
