#include <pthread.h>
#include <sched.h>

#include <array>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "xenbus/io_thread.hpp"

using namespace kxen;

namespace {
std::string named_as(std::string_view label) {
  std::string seen;
  std::thread([&] {
    prepare_io_thread(label);
    std::array<char, 32> name{};
    pthread_getname_np(pthread_self(), name.data(), name.size());
    seen = name.data();
  }).join();
  return seen;
}
}  // namespace

TEST_CASE("an I/O thread is named after its queue", "[xenbus]") {
  CHECK(named_as("blk xvda q0") == "blk-xvda-q0");
  CHECK(named_as("net vif12 q3 and more") == "net-vif12-q3-an");  // the kernel keeps 15 characters
}

TEST_CASE("an I/O thread runs SCHED_BATCH, so a kick does not preempt the vCPU that sent it", "[xenbus]") {
  int policy = -1;
  std::thread([&] {
    prepare_io_thread("blk xvda q0");
    sched_param param{};
    pthread_getschedparam(pthread_self(), &policy, &param);
  }).join();
  CHECK(policy == SCHED_BATCH);
}
