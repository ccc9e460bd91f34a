// Kubernetes Events about a pod, as multus records them (its EventRecorder.Eventf): what the engine
// reports and the sinks that carry it. The engine only records; where an event goes and when is
// the sink's business: thin plexus sends them after the result is ready (BufferedEvents), plexusd
// from a bounded queue on its own thread (EventQueue), so an ADD never waits on the API server for
// them. Local mode (a manifest store) has no sink: the same lines are in the log.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace plexus::meta {

enum class EventType { Normal, Warning };
std::string_view to_string(EventType type);

// multus's reasons, and plexus's for the failures multus reports only in its error.
inline constexpr std::string_view kAddedInterfaceReason = "AddedInterface";  // Normal, per attachment
inline constexpr std::string_view kNoNetworkFoundReason = "NoNetworkFound";  // Warning: no such NAD
inline constexpr std::string_view kAddFailedReason = "ErrorAddingInterface";  // Warning: ADD failed, rolled back
inline constexpr std::string_view kNetworkStatusFailedReason = "ErrorSettingNetworkStatus";  // Warning: pod attached

struct PodEvent {
  std::string namespace_name;
  std::string pod_name;
  std::string pod_uid;  // empty when unknown
  EventType type = EventType::Normal;
  std::string reason;
  std::string message;
  std::chrono::system_clock::time_point time = std::chrono::system_clock::now();
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Never blocks on the network and never throws: an event is worth less than the call.
  virtual void record(PodEvent event) = 0;
};

// Sends one event; throws on failure (the sinks below log and go on).
using EventSender = std::function<void(const PodEvent&)>;
using EventLog = std::function<void(std::string_view)>;  // error lines of the sinks

// Thin plexus: keeps the call's events; send_all() after the reply is written.
class BufferedEvents final : public EventSink {
 public:
  void record(PodEvent event) override;
  // Sends them in order until the first failure (an API server that refused or timed out once
  // would only make the kubelet wait again for the rest), which is logged with the count dropped.
  void send_all(const EventSender& send, const EventLog& log);
  const std::vector<PodEvent>& pending() const { return events_; }

 private:
  std::mutex mutex_;
  std::vector<PodEvent> events_;
};

// plexusd: a bounded queue drained by one thread. record() never waits: a full queue drops the
// event with a log line. The destructor gives what is queued `drain_timeout` to go out, then drops
// the rest (logged).
class EventQueue final : public EventSink {
 public:
  EventQueue(EventSender send, EventLog log, std::size_t capacity = 1024,
             std::chrono::milliseconds drain_timeout = std::chrono::milliseconds(2000));
  ~EventQueue() override;
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  void record(PodEvent event) override;
  std::size_t sent() const;
  std::size_t dropped() const;
  // Waits until nothing is queued or in flight (tests), at most `within`; true when idle.
  bool wait_idle(std::chrono::milliseconds within) const;

 private:
  void run(const std::stop_token& stop);

  EventSender send_;
  EventLog log_;
  std::size_t capacity_;
  std::chrono::milliseconds drain_timeout_;
  mutable std::mutex mutex_;
  mutable std::condition_variable_any changed_;
  std::deque<PodEvent> queue_;
  bool in_flight_ = false;
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_{};
  std::size_t sent_ = 0;
  std::size_t dropped_ = 0;
  std::jthread worker_;  // last: started after, and joined before, everything it uses
};

}  // namespace plexus::meta
