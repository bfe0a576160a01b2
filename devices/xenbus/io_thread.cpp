#include "xenbus/io_thread.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstring>
#include <string>

#include <spdlog/spdlog.h>

namespace kxen {

void prepare_io_thread(std::string_view label) {
  std::string name(label);
  std::replace(name.begin(), name.end(), ' ', '-');
  name.resize(std::min<std::size_t>(name.size(), 15));  // TASK_COMM_LEN - 1
  pthread_setname_np(pthread_self(), name.c_str());
  const sched_param normal{};
  if (const int err = pthread_setschedparam(pthread_self(), SCHED_BATCH, &normal); err != 0)
    spdlog::debug("{}: SCHED_BATCH refused ({}); the thread stays SCHED_OTHER", label, std::strerror(err));
}

}  // namespace kxen
