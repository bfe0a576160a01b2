// Hidden reproductions of issue #12's measurements: process RSS around each attack, printed,
// not asserted (RSS depends on the allocator). Run one per process, since peak RSS only grows:
//   kxen-unit "xenstore rss: repeated writes"   (and "refused requests", "commit events")
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "xen/xenstore/store.hpp"

using namespace kxen::xenstore;

namespace {

long rss_kib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * 4;
}

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

void report(const char* what, long rss_before, long peak_before) {
  std::printf("%s: RSS %ld -> %ld KiB, peak %ld -> %ld KiB\n", what, rss_before, rss_kib(), peak_before,
              peak_rss_kib());
}

struct Setup {
  XenStore store;
  ConnId guest;
  Setup() {
    REQUIRE(store.mkdir("/local/domain/1"));
    REQUIRE(store.set_perms("/local/domain/1", *parse_perms({"n1"})));
    guest = store.connect(1, [](std::string_view, std::string_view) {});
  }
};

}  // namespace

TEST_CASE("xenstore rss: repeated writes of one node in a transaction", "[.][xenstore-rss]") {
  Setup s;
  const TxId tx = s.store.transaction_start(Request{s.guest, 0}).value();
  const long rss = rss_kib(), peak = peak_rss_kib();
  int ok = 0;
  for (int i = 0; i < 2000000; ++i) {
    Deliveries out;
    ok += s.store.write(Request{s.guest, tx}, "x", "v", out) ? 1 : 0;
  }
  report("2,000,000 writes of one node", rss, peak);
  std::printf("  %d replies OK\n", ok);
}

TEST_CASE("xenstore rss: refused requests in a transaction", "[.][xenstore-rss]") {
  Setup s;
  const TxId tx = s.store.transaction_start(Request{s.guest, 0}).value();
  const long rss = rss_kib(), peak = peak_rss_kib();
  int refused = 0;
  for (int i = 0; i < 400000; ++i) {
    Deliveries out;
    const std::string path = "n" + std::to_string(i);
    refused += s.store.write(Request{s.guest, tx}, path, "v", out) ? 0 : 1;
    (void)s.store.rm(Request{s.guest, tx}, path, out);
  }
  report("400,000 create+remove in one transaction", rss, peak);
  std::printf("  %d creates refused\n", refused);
}

TEST_CASE("xenstore rss: commit events for 128 watches", "[.][xenstore-rss]") {
  Setup s;
  const std::string token(3900, 't');
  for (int w = 0; w < 128; ++w) {
    Deliveries out;
    REQUIRE(s.store.watch(Request{s.guest, 0}, "x", token + std::to_string(w), out));
  }
  const TxId tx = s.store.transaction_start(Request{s.guest, 0}).value();
  for (int i = 0; i < 500; ++i) {
    Deliveries out;
    REQUIRE(s.store.write(Request{s.guest, tx}, "x", std::to_string(i), out));
  }
  const long rss = rss_kib(), peak = peak_rss_kib();
  Deliveries out;
  REQUIRE(s.store.transaction_end(Request{s.guest, tx}, true, out));
  report("commit of 500 writes with 128 watches", rss, peak);
  std::printf("  %zu deliveries\n", out.size());
}
