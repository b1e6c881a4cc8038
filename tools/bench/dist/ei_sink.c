/* The ei (erl_interface) C node of the distribution benchmark: registers as `Name` in epmd,
 * accepts one connection, counts the messages it receives and answers {done, From} with
 * {ack, Count, CpuMicros} (process CPU time since the first message). */
#include <ei.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ei_sink NAME COOKIE\n");
    return 2;
  }
  ei_init();
  ei_cnode ec;
  if (ei_connect_init(&ec, argv[1], argv[2], 1) < 0) return 1;
  int port = 0;
  int lfd = ei_listen(&ec, &port, 5);
  if (lfd < 0) return 1;
  if (ei_publish(&ec, port) < 0) return 1;
  printf("READY %d\n", port);
  fflush(stdout);
  ErlConnect conn;
  int fd = ei_accept(&ec, lfd, &conn);
  if (fd < 0) return 1;
  ei_x_buff x;
  ei_x_new(&x);
  erlang_msg msg;
  long long count = 0, cpu0 = 0;
  for (;;) {
    int r = ei_xreceive_msg(fd, &msg, &x);
    if (r == ERL_TICK) continue;
    if (r == ERL_ERROR) break;
    if (count == 0) cpu0 = cpu_us();
    /* {done, From}? */
    int idx = 0, ver, arity;
    char a[MAXATOMLEN];
    erlang_pid from;
    ei_decode_version(x.buff, &idx, &ver);
    if (ei_decode_tuple_header(x.buff, &idx, &arity) == 0 && arity == 2 &&
        ei_decode_atom(x.buff, &idx, a) == 0 && strcmp(a, "done") == 0 &&
        ei_decode_pid(x.buff, &idx, &from) == 0) {
      ei_x_buff out;
      ei_x_new_with_version(&out);
      ei_x_encode_tuple_header(&out, 3);
      ei_x_encode_atom(&out, "ack");
      ei_x_encode_longlong(&out, count);
      ei_x_encode_longlong(&out, cpu_us() - cpu0);
      ei_send(fd, &from, out.buff, out.index);
      ei_x_free(&out);
      count = 0;
      continue;
    }
    ++count;
  }
  ei_x_free(&x);
  return 0;
}
