// The ceiling for this engine: libcurl's multi-socket interface driven by a plain epoll loop, with
// the same libcurl options the TypeScript clients use (NOSIGNAL, PROXY "" and NOPROXY "*" so no
// proxy environment lookups, keep-alive). Bodies are copied into a per-handle buffer that is
// reused, as the TypeScript path collects them natively.
//
//   multi-epoll --url URL --inflight N --duration-ms D --expect-bytes B [--cpu-every K]
//               [--h2] [--cainfo PATH] [--held] [--warmup-url URL]
//
// Throughput mode keeps N transfers in flight until D ms have passed, then drains. Held mode
// starts N transfers at once (the server answers each after 1 s) and measures RSS above the idle
// baseline. Prints one JSON object on stdout, the same shape as the TypeScript clients print.
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct transfer {
  CURL* easy;
  char* buf;
  size_t len;
  size_t cap;
};

static int epfd = -1;
static double timer_deadline = -1;  // ms on CLOCK_MONOTONIC, -1 when no timer is armed

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int statm_fd = -1;
static long rss_kib(void) {
  char text[128];
  if (statm_fd < 0) statm_fd = open("/proc/self/statm", O_RDONLY);
  ssize_t n = pread(statm_fd, text, sizeof text - 1, 0);
  if (n <= 0) return 0;
  text[n] = 0;
  long size = 0, resident = 0;
  if (sscanf(text, "%ld %ld", &size, &resident) != 2) return 0;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void die(const char* what, const char* detail) {
  fprintf(stderr, "multi-epoll: %s: %s\n", what, detail);
  exit(2);
}

// CURLMOPT_SOCKETFUNCTION: `what` is the whole interest set (docs/contract.md#whole-interest-set).
// socketp is non-NULL once registered and is forgotten by libcurl at REMOVE
// (docs/contract.md#remove-forgets-socketp).
static int on_socket(CURL* easy, curl_socket_t s, int what, void* clientp, void* socketp) {
  (void)easy;
  CURLM* multi = clientp;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL);  // ENOENT/EBADF: already gone
    return 0;
  }
  struct epoll_event ev = {0};
  ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
  ev.data.fd = s;
  if (socketp == NULL) {
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev) != 0) {
      if (errno != EEXIST || epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev) != 0)
        die("epoll_ctl ADD", strerror(errno));
    }
    curl_multi_assign(multi, s, (void*)1);
  } else if (epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev) != 0) {
    die("epoll_ctl MOD", strerror(errno));
  }
  return 0;
}

// CURLMOPT_TIMERFUNCTION: one timer; 0 means "soon", served by the next loop turn
// (docs/contract.md#one-timer).
static int on_timer(CURLM* multi, long timeout_ms, void* clientp) {
  (void)multi;
  (void)clientp;
  timer_deadline = timeout_ms < 0 ? -1 : now_ms() + (double)timeout_ms;
  return 0;
}

static size_t on_write(char* data, size_t size, size_t nmemb, void* userp) {
  struct transfer* t = userp;
  size_t n = size * nmemb;
  if (t->len + n > t->cap) {
    size_t cap = t->cap ? t->cap : 16384;
    while (cap < t->len + n) cap *= 2;
    char* grown = realloc(t->buf, cap);
    if (!grown) return 0;
    t->buf = grown;
    t->cap = cap;
  }
  memcpy(t->buf + t->len, data, n);
  t->len += n;
  return n;
}

struct options {
  const char* url;
  const char* warmup_url;
  const char* cainfo;
  long inflight;
  double duration_ms;
  long expect_bytes;
  long cpu_every;
  long batch;             // held: transfers started per batch
  double batch_interval;  // held: ms between batches
  int h2;
  int held;
};

static void setup_easy(struct transfer* t, const struct options* o, const char* url) {
  CURL* e = curl_easy_init();
  if (!e) die("curl_easy_init", "failed");
  t->easy = e;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  if (o->cainfo) curl_easy_setopt(e, CURLOPT_CAINFO, o->cainfo);
  if (o->h2) {
    // h2c with prior knowledge for http://, ALPN h2 for https://.
    int tls = strncmp(url, "https:", 6) == 0;
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     (long)(tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE));
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  }
}

// One turn: wait for events or the timer (or until `until_ms`, if >= 0), dispatch each ready
// fd, then the expired timer.
static void turn(CURLM* multi, struct epoll_event* events, int max_events, double until_ms) {
  double deadline = timer_deadline;
  if (until_ms >= 0 && (deadline < 0 || until_ms < deadline)) deadline = until_ms;
  int wait = -1;
  if (deadline >= 0) {
    double left = deadline - now_ms();
    wait = left <= 0 ? 0 : (int)(left + 0.999);
  }
  int n = epoll_wait(epfd, events, max_events, wait);
  if (n < 0 && errno != EINTR) die("epoll_wait", strerror(errno));
  int running = 0;
  for (int i = 0; i < n; i++) {
    uint32_t ev = events[i].events;
    int bits = 0;
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) bits |= CURL_CSELECT_IN;
    if (ev & EPOLLOUT) bits |= CURL_CSELECT_OUT;
    if (ev & EPOLLERR) bits |= CURL_CSELECT_ERR | CURL_CSELECT_IN | CURL_CSELECT_OUT;
    curl_multi_socket_action(multi, events[i].data.fd, bits, &running);
  }
  if (timer_deadline >= 0 && timer_deadline <= now_ms()) {
    timer_deadline =
        -1;  // consumed: 7.88.1 sends no -1 afterwards (docs/contract.md#timer-only-on-change)
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
}

// A finished transfer: 1 when it was a 200 with the expected body length.
static int finished_ok(CURLMsg* msg, const struct options* o) {
  struct transfer* t = NULL;
  long status = 0;
  curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char**)&t);
  curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
  int ok = msg->data.result == CURLE_OK && status == 200 &&
           (o->expect_bytes < 0 || (long)t->len == o->expect_bytes);
  if (msg->data.result != CURLE_OK)
    fprintf(stderr, "multi-epoll: %s\n", curl_easy_strerror(msg->data.result));
  t->len = 0;
  return ok;
}

static void parse(int argc, char** argv, struct options* o) {
  memset(o, 0, sizeof *o);
  o->inflight = 1;
  o->duration_ms = 1000;
  o->expect_bytes = -1;
  o->cpu_every = 256;
  o->batch = 100;
  o->batch_interval = 5;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--h2"))
      o->h2 = 1;
    else if (!strcmp(a, "--held"))
      o->held = 1;
    else if (!v)
      die("missing value for", a);
    else if (!strcmp(a, "--url"))
      o->url = v, i++;
    else if (!strcmp(a, "--warmup-url"))
      o->warmup_url = v, i++;
    else if (!strcmp(a, "--cainfo"))
      o->cainfo = v, i++;
    else if (!strcmp(a, "--inflight"))
      o->inflight = atol(v), i++;
    else if (!strcmp(a, "--duration-ms"))
      o->duration_ms = atof(v), i++;
    else if (!strcmp(a, "--expect-bytes"))
      o->expect_bytes = atol(v), i++;
    else if (!strcmp(a, "--cpu-every"))
      o->cpu_every = atol(v), i++;
    else if (!strcmp(a, "--batch"))
      o->batch = atol(v), i++;
    else if (!strcmp(a, "--batch-interval-ms"))
      o->batch_interval = atof(v), i++;
    else
      die("unknown argument", a);
  }
  if (!o->url) die("usage", "--url is required");
  if (o->inflight < 1 || o->inflight > 100000) die("--inflight", "must be 1..100000");
  if (o->cpu_every < 1) die("--cpu-every", "must be >= 1");
  if (o->batch < 1) die("--batch", "must be >= 1");
}

static CURLM* new_multi(const struct options* o) {
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, multi);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
  if (o->h2) {
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
  }
  return multi;
}

static int run_throughput(const struct options* o) {
  CURLM* multi = new_multi(o);
  struct transfer* slots = calloc((size_t)o->inflight, sizeof *slots);
  size_t cap = 1 << 16, count = 0, stop_index = 0;
  double* ts = malloc(cap * sizeof *ts);
  size_t cpu_cap = 1024, cpu_count = 0;
  double* cpu = malloc(cpu_cap * sizeof *cpu);
  long errors = 0, active = 0;
  struct epoll_event events[256];
  double t0 = now_ms();
  for (long i = 0; i < o->inflight; i++) {
    setup_easy(&slots[i], o, o->url);
    curl_multi_add_handle(multi, slots[i].easy);
    active++;
  }
  while (active > 0) {
    turn(multi, events, 256, -1);
    CURLMsg* msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      int ok = finished_ok(msg, o);
      curl_multi_remove_handle(multi, e);
      active--;
      if (!ok) errors++;
      if (stop_index) continue;  // draining: not counted
      double t = now_ms();
      if (count == cap) ts = realloc(ts, (cap *= 2) * sizeof *ts);
      ts[count++] = t;
      if (count % (size_t)o->cpu_every == 0) {
        if (cpu_count == cpu_cap) cpu = realloc(cpu, (cpu_cap *= 2) * sizeof *cpu);
        cpu[cpu_count++] = cpu_us();
      }
      // Not before two rounds of every transfer in flight (recorder.ts does the same).
      if (t - t0 >= o->duration_ms && count >= 2 * (size_t)o->inflight) {
        stop_index = count;
        continue;
      }
      curl_multi_add_handle(multi, e);  // the handle and its connection are reused
      active++;
    }
  }
  // The measured window: from completion floor(S/5) to completion S-1 (warm-up excluded).
  size_t s = count, w = s / 5;
  double seconds = s > w + 1 ? (ts[s - 1] - ts[w]) / 1e3 : 0;
  double measured = s > w + 1 ? (double)(s - 1 - w) : 0;
  // Sample j (1-based) was taken when j*k transfers had completed: the first one at or after
  // the window's start and the last one inside it.
  size_t k = (size_t)o->cpu_every;
  size_t a = (w + k) / k, b = s / k;
  double cpu_per_req = -1;
  if (a >= 1 && b > a && b <= cpu_count)
    cpu_per_req = (cpu[b - 1] - cpu[a - 1]) / (double)((b - a) * k);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf(
      "{\"mode\":\"throughput\",\"completed\":%zu,\"measured\":%.0f,\"seconds\":%.6f,\"reqPerSec\":"
      "%.3f,"
      "\"cpuUsPerReq\":%.4f,\"errors\":%ld,\"maxRssKiB\":%ld,\"libcurl\":\"%s\"}\n",
      s, measured, seconds, seconds > 0 ? measured / seconds : 0, cpu_per_req, errors, ru.ru_maxrss,
      curl_version_info(CURLVERSION_NOW)->version);
  for (long i = 0; i < o->inflight; i++) {
    curl_easy_cleanup(slots[i].easy);
    free(slots[i].buf);
  }
  curl_multi_cleanup(multi);
  free(slots);
  free(ts);
  free(cpu);
  (void)stop_index;
  return 0;
}

// Held mode: warm up (a few quick requests), take the idle baseline, then start the transfers
// in batches (as the TypeScript clients do: routes.ts HELD_BATCH) and sample RSS while they are
// held open by the server.
static int run_held(const struct options* o) {
  CURLM* multi = new_multi(o);
  struct epoll_event events[256];
  long errors = 0;
  if (o->warmup_url) {
    struct options wo = *o;
    wo.expect_bytes = -1;
    enum { WARM_SLOTS = 16, WARM_TOTAL = 256 };
    struct transfer warm[WARM_SLOTS] = {0};
    long started = 0, active = 0;
    for (int i = 0; i < WARM_SLOTS; i++) {
      setup_easy(&warm[i], &wo, o->warmup_url);
      curl_multi_add_handle(multi, warm[i].easy);
      started++, active++;
    }
    while (active > 0) {
      turn(multi, events, 256, -1);
      CURLMsg* msg;
      int left;
      while ((msg = curl_multi_info_read(multi, &left))) {
        CURL* e = msg->easy_handle;
        finished_ok(msg, &wo);
        curl_multi_remove_handle(multi, e);
        active--;
        if (started < WARM_TOTAL) {
          curl_multi_add_handle(multi, e);
          started++, active++;
        }
      }
    }
    for (int i = 0; i < WARM_SLOTS; i++) {
      curl_easy_cleanup(warm[i].easy);
      free(warm[i].buf);
    }
  }
  long baseline = rss_kib();
  long peak = baseline;
  double c0 = cpu_us(), t0 = now_ms(), last_sample = t0;
  struct transfer* slots = calloc((size_t)o->inflight, sizeof *slots);
  long started = 0, active = 0;
  double next_batch = t0;
  while (active > 0 || started < o->inflight) {
    if (started < o->inflight && now_ms() >= next_batch) {
      for (long n = 0; n < o->batch && started < o->inflight; n++, started++, active++) {
        setup_easy(&slots[started], o, o->url);
        curl_multi_add_handle(multi, slots[started].easy);
      }
      next_batch = now_ms() + o->batch_interval;
    }
    turn(multi, events, 256, started < o->inflight ? next_batch : -1);
    double t = now_ms();
    if (t - last_sample >= 10) {
      long r = rss_kib();
      if (r > peak) peak = r;
      last_sample = t;
    }
    CURLMsg* msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
      if (!finished_ok(msg, o)) errors++;
      curl_multi_remove_handle(multi, msg->easy_handle);
      active--;
    }
  }
  long r = rss_kib();
  if (r > peak) peak = r;
  double wall = now_ms() - t0, cpu = cpu_us() - c0;
  printf(
      "{\"mode\":\"held\",\"transfers\":%ld,\"errors\":%ld,\"baselineRssKiB\":%ld,\"peakRssKiB\":%"
      "ld,"
      "\"rssPerTransferKiB\":%.3f,\"cpuMs\":%.3f,\"wallMs\":%.3f,\"libcurl\":\"%s\"}\n",
      o->inflight, errors, baseline, peak, (double)(peak - baseline) / (double)o->inflight,
      cpu / 1e3, wall, curl_version_info(CURLVERSION_NOW)->version);
  for (long i = 0; i < o->inflight; i++) {
    curl_easy_cleanup(slots[i].easy);
    free(slots[i].buf);
  }
  curl_multi_cleanup(multi);
  free(slots);
  return 0;
}

int main(int argc, char** argv) {
  struct options o;
  parse(argc, argv, &o);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) die("curl_global_init", "failed");
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1", strerror(errno));
  int rc = o.held ? run_held(&o) : run_throughput(&o);
  close(epfd);
  curl_global_cleanup();
  return rc;
}
