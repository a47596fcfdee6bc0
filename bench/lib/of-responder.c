/*
 * bench:floors — the lowest cost any OpenFlow switch can have on the path that
 * `ovs-ofctl add-flows` (without --bundle) measures: a C program that listens on a unix
 * socket, serves one connection at a time with blocking reads and answers only what
 * ovs-ofctl waits for (HELLO, ECHO, FEATURES, multipart, BARRIER). Flow-mods are read and
 * ignored. If this program cannot reach a target, no switch on this machine can.
 *
 *   of-responder SOCKET_PATH TABLE_FEATURES_REPLY_FILE
 *
 * The second file holds the TABLE_FEATURES multipart reply messages (any xid), written by
 * bench/floors.ts from tsvs's own table features; their xids are rewritten per request.
 * Never part of `npm test`.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static unsigned char *features;
static size_t features_len;

static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void header(unsigned char *b, unsigned type, unsigned len, const unsigned char *xid) {
  memset(b, 0, len);
  b[0] = 4;
  b[1] = (unsigned char)type;
  b[2] = (unsigned char)(len >> 8);
  b[3] = (unsigned char)len;
  memcpy(b + 4, xid, 4);
}

static void serve(int fd) {
  static unsigned char in[1 << 16];
  static unsigned char out[1 << 12];
  size_t have = 0;
  unsigned char hello[8];
  static const unsigned char one[4] = {0, 0, 0, 1};
  header(hello, 0, 8, one);
  if (write_all(fd, hello, 8) < 0) return;
  for (;;) {
    ssize_t r = read(fd, in + have, sizeof in - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    have += (size_t)r;
    size_t off = 0, o = 0;
    while (have - off >= 8) {
      const unsigned char *m = in + off;
      unsigned len = ((unsigned)m[2] << 8) | m[3];
      if (len < 8) return;
      if (have - off < len) break;
      const unsigned char *xid = m + 4;
      switch (m[1]) {
        case 2: /* ECHO_REQUEST */
          header(out + o, 3, 8, xid);
          o += 8;
          break;
        case 5: /* FEATURES_REQUEST */
          header(out + o, 6, 32, xid);
          o += 32;
          break;
        case 18: /* MULTIPART_REQUEST */
          if (len >= 10 && m[8] == 0 && m[9] == 12 && features_len > 0) {
            if (write_all(fd, out, o) < 0) return;
            o = 0;
            for (size_t f = 0; f + 8 <= features_len;) {
              unsigned flen = ((unsigned)features[f + 2] << 8) | features[f + 3];
              memcpy(features + f + 4, xid, 4);
              f += flen;
            }
            if (write_all(fd, features, features_len) < 0) return;
          } else if (len >= 10) {
            header(out + o, 19, 16, xid);
            out[o + 8] = m[8];
            out[o + 9] = m[9];
            o += 16;
          }
          break;
        case 20: /* BARRIER_REQUEST */
          header(out + o, 21, 8, xid);
          o += 8;
          break;
        default:
          break;
      }
      off += len;
      if (o + 64 > sizeof out) {
        if (write_all(fd, out, o) < 0) return;
        o = 0;
      }
    }
    if (o > 0 && write_all(fd, out, o) < 0) return;
    memmove(in, in + off, have - off);
    have -= off;
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: of-responder SOCKET_PATH TABLE_FEATURES_FILE\n");
    return 2;
  }
  FILE *f = fopen(argv[2], "rb");
  if (!f) {
    perror(argv[2]);
    return 1;
  }
  features = malloc(1 << 20);
  features_len = fread(features, 1, 1 << 20, f);
  fclose(f);
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
  unlink(argv[1]);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0) {
    perror("listen");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR) continue;
      perror("accept");
      return 1;
    }
    serve(c);
    close(c);
  }
}
