#include <plexus/meta/events.hpp>

#include <fmt/format.h>

#include <exception>

namespace plexus::meta {

std::string_view to_string(EventType type) { return type == EventType::Warning ? "Warning" : "Normal"; }

namespace {

std::string describe(const PodEvent& event) {
  return fmt::format("{} {} on pod {}/{}", to_string(event.type), event.reason, event.namespace_name, event.pod_name);
}

}  // namespace

void BufferedEvents::record(PodEvent event) {
  const std::lock_guard lock(mutex_);
  events_.push_back(std::move(event));
}

void BufferedEvents::send_all(const EventSender& send, const EventLog& log) {
  std::vector<PodEvent> events;
  {
    const std::lock_guard lock(mutex_);
    events.swap(events_);
  }
  for (std::size_t i = 0; i < events.size(); ++i) {
    try {
      send(events[i]);
    } catch (const std::exception& e) {
      if (log) log(fmt::format("cannot send event {}: {} ({} more not sent)", describe(events[i]), e.what(), events.size() - i - 1));
      return;
    }
  }
}

EventQueue::EventQueue(EventSender send, EventLog log, std::size_t capacity, std::chrono::milliseconds drain_timeout)
    : send_(std::move(send)), log_(std::move(log)), capacity_(capacity), drain_timeout_(drain_timeout),
      worker_([this](const std::stop_token& stop) { run(stop); }) {}

EventQueue::~EventQueue() {
  worker_.request_stop();
  if (worker_.joinable()) worker_.join();
}

void EventQueue::record(PodEvent event) {
  {
    const std::lock_guard lock(mutex_);
    if (queue_.size() < capacity_ && !draining_) {
      queue_.push_back(std::move(event));
      changed_.notify_all();
      return;
    }
    ++dropped_;
  }
  if (log_) log_(fmt::format("event queue full ({} queued): dropped {}", capacity_, describe(event)));
}

std::size_t EventQueue::sent() const {
  const std::lock_guard lock(mutex_);
  return sent_;
}

std::size_t EventQueue::dropped() const {
  const std::lock_guard lock(mutex_);
  return dropped_;
}

bool EventQueue::wait_idle(std::chrono::milliseconds within) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, within, [this] { return queue_.empty() && !in_flight_; });
}

void EventQueue::run(const std::stop_token& stop) {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, stop, [this] { return !queue_.empty(); });
    if (stop.stop_requested() && !draining_) {
      draining_ = true;
      drain_deadline_ = std::chrono::steady_clock::now() + drain_timeout_;
    }
    if (queue_.empty() || (draining_ && std::chrono::steady_clock::now() >= drain_deadline_)) break;
    PodEvent event = std::move(queue_.front());
    queue_.pop_front();
    in_flight_ = true;
    lock.unlock();
    bool ok = true;
    try {
      send_(event);
    } catch (const std::exception& e) {
      ok = false;
      // Logged before the queue counts as idle again, so wait_idle() sees it done.
      if (log_) log_(fmt::format("cannot send event {}: {}", describe(event), e.what()));
    }
    lock.lock();
    in_flight_ = false;
    if (ok) ++sent_;
    changed_.notify_all();
  }
  if (!queue_.empty()) {
    const auto left = queue_.size();
    dropped_ += left;
    queue_.clear();
    changed_.notify_all();
    lock.unlock();
    if (log_) log_(fmt::format("shutting down: {} queued event(s) not sent", left));
  }
}

}  // namespace plexus::meta
