/* The ei (erl_interface) receiver of the messaging benchmark: a C node named NAME that
 * registers in epmd (ERL_EPMD_PORT), accepts connections one at a time and answers runs as
 * every receiver does (see README.md): {sync, From, N} -> From ! {ready, self}; then N
 * messages, each checked like the others check them; then From ! {done, RecvCpuMicros}.
 * Prints "ready NODE" once published. */
#include <ei.h>

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static long long cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

/* {sync, From, N}: fills from and n. */
static int is_sync(const char* b, erlang_pid* from, long long* n) {
  int i = 0, ver, arity;
  char a[MAXATOMLEN];
  return ei_decode_version(b, &i, &ver) == 0 && ei_decode_tuple_header(b, &i, &arity) == 0 &&
         arity == 3 && ei_decode_atom(b, &i, a) == 0 && strcmp(a, "sync") == 0 &&
         ei_decode_pid(b, &i, from) == 0 && ei_decode_longlong(b, &i, n) == 0;
}

/* {hello, 42, Binary} (decoded field by field) or a binary (type and size only: no copy). */
static int is_payload(const char* b) {
  int i = 0, ver, arity, type, size;
  char a[MAXATOMLEN];
  long v;
  if (ei_decode_version(b, &i, &ver) != 0 || ei_get_type(b, &i, &type, &size) != 0) return 0;
  if (type == ERL_BINARY_EXT) return ei_skip_term(b, &i) == 0;
  char bin[64];
  long len;
  return ei_decode_tuple_header(b, &i, &arity) == 0 && arity == 3 &&
         ei_decode_atom(b, &i, a) == 0 && strcmp(a, "hello") == 0 &&
         ei_decode_long(b, &i, &v) == 0 && v == 42 && ei_get_type(b, &i, &type, &size) == 0 &&
         type == ERL_BINARY_EXT && size <= (int)sizeof bin &&
         ei_decode_binary(b, &i, bin, &len) == 0;
}

static void reply(int fd, erlang_pid* to, ei_x_buff* out) {
  ei_send(fd, to, out->buff, out->index);
  ei_x_free(out);
}

static void serve(ei_cnode* ec, int fd) {
  ei_x_buff x;
  ei_x_new(&x);
  erlang_msg msg;
  erlang_pid from;
  long long left = -1, cpu0 = 0;
  for (;;) {
    x.index = 0;
    int r = ei_xreceive_msg(fd, &msg, &x);
    if (r == ERL_TICK) continue;
    if (r == ERL_ERROR) break;
    if (msg.msgtype != ERL_SEND && msg.msgtype != ERL_REG_SEND) continue;
    long long n;
    if (left < 0) {
      if (!is_sync(x.buff, &from, &n)) continue;
      cpu0 = cpu_us();
      left = n;
      ei_x_buff out;
      ei_x_new_with_version(&out);
      ei_x_encode_tuple_header(&out, 2);
      ei_x_encode_atom(&out, "ready");
      ei_x_encode_pid(&out, ei_self(ec));
      reply(fd, &from, &out);
    } else {
      if (!is_payload(x.buff)) {
        fprintf(stderr, "ei_recv: unexpected message\n");
        continue;
      }
      --left;
    }
    if (left == 0) {
      ei_x_buff out;
      ei_x_new_with_version(&out);
      ei_x_encode_tuple_header(&out, 2);
      ei_x_encode_atom(&out, "done");
      ei_x_encode_longlong(&out, cpu_us() - cpu0);
      reply(fd, &from, &out);
      left = -1;
    }
  }
  ei_x_free(&x);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ei_recv NAME COOKIE\n");
    return 2;
  }
  ei_init();
  ei_cnode ec;
  if (ei_connect_init(&ec, argv[1], argv[2], 1) < 0) {
    fprintf(stderr, "ei_recv: ei_connect_init failed\n");
    return 1;
  }
  int port = 0;
  int lfd = ei_listen(&ec, &port, 5);
  if (lfd < 0 || ei_publish(&ec, port) < 0) {
    fprintf(stderr, "ei_recv: cannot listen or publish\n");
    return 1;
  }
  printf("ready %s\n", ei_thisnodename(&ec));
  fflush(stdout);
  for (;;) {
    ErlConnect conn;
    int fd = ei_accept(&ec, lfd, &conn);
    if (fd < 0) continue;
    serve(&ec, fd);
    ei_close_connection(fd);
  }
}
