// Port of skel's environment checks (cni-conformance.md section 1, scenarios S2 and S3).
#include <plexus/cni/env.hpp>
#include <plexus/cni/errors.hpp>

#include <gtest/gtest.h>

namespace {

using plexus::cni::Error;
using plexus::cni::Request;

Request full(const std::string& command) {
  Request r;
  r.command = command;
  r.container_id = "ctr-1";
  r.netns = "/var/run/netns/x";
  r.ifname = "eth0";
  r.path = "/opt/cni/bin";
  return r;
}

void expect_error(const std::function<void()>& fn, int code, const std::string& msg, const std::string& details = {}) {
  try {
    fn();
    FAIL() << "expected error: " << msg;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code);
    EXPECT_EQ(e.msg(), msg);
    EXPECT_EQ(e.details(), details);
  }
}

TEST(Env, AddWithoutNetnsIfnameAndPathListsAllThreeInOrder) {
  auto r = full("ADD");
  r.netns.clear();
  r.ifname.clear();
  r.path.clear();
  expect_error([&] { plexus::cni::validate_request_env(r); }, 4,
               "required env variables [CNI_NETNS,CNI_IFNAME,CNI_PATH] missing");
}

TEST(Env, DelNeedsNoNetns) {
  auto r = full("DEL");
  r.netns.clear();
  EXPECT_NO_THROW(plexus::cni::validate_request_env(r));
  r.container_id.clear();
  expect_error([&] { plexus::cni::validate_request_env(r); }, 4, "required env variables [CNI_CONTAINERID] missing");
}

TEST(Env, GcAndStatusNeedOnlyPath) {
  for (const auto* command : {"GC", "STATUS"}) {
    Request r;
    r.command = command;
    r.path = "/bin";
    EXPECT_NO_THROW(plexus::cni::validate_request_env(r)) << command;
    r.path.clear();
    expect_error([&] { plexus::cni::validate_request_env(r); }, 4, "required env variables [CNI_PATH] missing");
  }
}

TEST(Env, VersionNeedsNothingElseAndNoCommandIsMissing) {
  Request r;
  r.command = "VERSION";
  EXPECT_NO_THROW(plexus::cni::validate_request_env(r));
  r.command.clear();
  expect_error([&] { plexus::cni::validate_request_env(r); }, 4, "required env variables [CNI_COMMAND] missing");
}

TEST(Env, InterfaceNameRules) {
  using plexus::cni::validate_interface_name;
  expect_error([] { validate_interface_name(""); }, 4, "interface name is empty");
  expect_error([] { validate_interface_name("0123456789abcdef"); }, 4, "interface name is too long",
               "interface name should be less than 16 characters");
  EXPECT_NO_THROW(validate_interface_name("0123456789abcde"));
  expect_error([] { validate_interface_name("."); }, 4, "interface name is . or ..");
  expect_error([] { validate_interface_name(".."); }, 4, "interface name is . or ..");
  for (const auto* bad : {"a:b", "a/b", "a b", "a\tb"}) {
    expect_error([&] { validate_interface_name(bad); }, 4, "interface name contains / or : or whitespace characters");
  }
}

TEST(Env, ContainerIdRules) {
  using plexus::cni::validate_container_id;
  expect_error([] { validate_container_id("some-%%container-id"); }, 4, "invalid characters in containerID",
               "some-%%container-id");
  expect_error([] { validate_container_id("-leading-dash"); }, 4, "invalid characters in containerID", "-leading-dash");
  expect_error([] { validate_container_id(""); }, 3, "missing containerID");
  EXPECT_NO_THROW(validate_container_id("a1_b.c-d"));
}

TEST(Env, NetworkNameRules) {
  using plexus::cni::validate_network_name;
  expect_error([] { validate_network_name(""); }, 7, "missing network name");
  expect_error([] { validate_network_name("bad name"); }, 7, "invalid characters found in network name", "bad name");
  EXPECT_NO_THROW(validate_network_name("ip-192"));
}

}  // namespace
