// The event sinks' own rules: thin plexus's buffer stops at the first failed send, plexusd's queue
// never makes record() wait (a full queue drops, with a log line) and drains for a bounded time at
// shutdown. The Kubernetes side of sending is tested against the fake apiserver (tests/k8s, e2e,
// daemon); here the sender is a function the test controls.
#include <plexus/meta/events.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace plexus::meta {
namespace {

using namespace std::chrono_literals;

PodEvent event(const std::string& message) {
  return PodEvent{"default", "app", "uid-1", EventType::Normal, std::string(kAddedInterfaceReason), message, {}};
}

// Holds every send until released; counts them.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  bool open = false;
  int entered = 0;
  std::vector<std::string> sent;

  EventSender sender() {
    return [this](const PodEvent& e) {
      std::unique_lock lock(mutex);
      ++entered;
      changed.notify_all();
      changed.wait(lock, [this] { return open; });
      sent.push_back(e.message);
    };
  }
  void release() {
    const std::lock_guard lock(mutex);
    open = true;
    changed.notify_all();
  }
  bool wait_entered(int n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 5s, [&] { return entered >= n; });
  }
};

TEST(BufferedEvents, SendsInOrderAndStopsAtTheFirstFailure) {
  BufferedEvents buffer;
  for (const auto* m : {"one", "two", "three"}) buffer.record(event(m));
  std::vector<std::string> tried;
  std::vector<std::string> logged;
  buffer.send_all(
      [&](const PodEvent& e) {
        tried.push_back(e.message);
        if (e.message == "two") throw std::runtime_error("timed out");
      },
      [&](std::string_view line) { logged.emplace_back(line); });
  EXPECT_EQ(tried, (std::vector<std::string>{"one", "two"})) << "nothing after the API server failed once";
  ASSERT_EQ(logged.size(), 1U);
  EXPECT_EQ(logged[0], "cannot send event Normal AddedInterface on pod default/app: timed out (1 more not sent)");
  EXPECT_TRUE(buffer.pending().empty());
}

TEST(EventQueue, RecordNeverWaitsAndAFullQueueDropsWithALogLine) {
  Gate gate;
  std::mutex log_mutex;
  std::vector<std::string> logged;
  {
    EventQueue queue(gate.sender(), [&](std::string_view line) {
      const std::lock_guard lock(log_mutex);
      logged.emplace_back(line);
    }, /*capacity=*/2);
    queue.record(event("e0"));
    ASSERT_TRUE(gate.wait_entered(1));  // e0 in flight, held
    const auto start = std::chrono::steady_clock::now();
    for (const auto* m : {"e1", "e2", "e3"}) queue.record(event(m));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 100ms) << "record() waited on the sender";
    EXPECT_EQ(queue.dropped(), 1U);
    gate.release();
    ASSERT_TRUE(queue.wait_idle(5s));
    EXPECT_EQ(queue.sent(), 3U);
  }
  EXPECT_EQ(gate.sent, (std::vector<std::string>{"e0", "e1", "e2"}));
  const std::lock_guard lock(log_mutex);
  ASSERT_EQ(logged.size(), 1U);
  EXPECT_EQ(logged[0], "event queue full (2 queued): dropped Normal AddedInterface on pod default/app");
}

TEST(EventQueue, AFailedSendIsLoggedAndTheNextStillGoes) {
  std::vector<std::string> sent;
  std::vector<std::string> logged;
  std::mutex mutex;
  EventQueue queue(
      [&](const PodEvent& e) {
        if (e.message == "bad") throw std::runtime_error("HTTP 403");
        const std::lock_guard lock(mutex);
        sent.push_back(e.message);
      },
      [&](std::string_view line) {
        const std::lock_guard lock(mutex);
        logged.emplace_back(line);
      });
  queue.record(event("bad"));
  queue.record(event("good"));
  ASSERT_TRUE(queue.wait_idle(5s));
  const std::lock_guard lock(mutex);
  EXPECT_EQ(sent, std::vector<std::string>{"good"});
  ASSERT_EQ(logged.size(), 1U);
  EXPECT_EQ(logged[0], "cannot send event Normal AddedInterface on pod default/app: HTTP 403");
}

TEST(EventQueue, ShutdownDrainsForABoundedTimeThenDrops) {
  std::atomic<int> sent{0};
  std::vector<std::string> logged;
  std::mutex mutex;
  const auto start = std::chrono::steady_clock::now();
  {
    EventQueue queue(
        [&](const PodEvent&) {
          std::this_thread::sleep_for(200ms);  // a slow API server
          ++sent;
        },
        [&](std::string_view line) {
          const std::lock_guard lock(mutex);
          logged.emplace_back(line);
        },
        /*capacity=*/64, /*drain_timeout=*/500ms);
    for (int i = 0; i < 20; ++i) queue.record(event("e" + std::to_string(i)));
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 1500ms) << "shutdown waited for all 20 (4 s)";
  EXPECT_GE(sent.load(), 2);
  EXPECT_LE(sent.load(), 5);
  const std::lock_guard lock(mutex);
  ASSERT_FALSE(logged.empty());
  EXPECT_EQ(logged.back(), "shutting down: " + std::to_string(20 - sent.load()) + " queued event(s) not sent");
}

}  // namespace
}  // namespace plexus::meta
