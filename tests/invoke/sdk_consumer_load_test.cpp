// The out-of-tree plugin built against the installed SDK (tests/sdk-consumer) loads through the
// registry and runs in-process like an in-tree one.
#include <plexus/cni/errors.hpp>
#include <plexus/invoke/router.hpp>

#include <gtest/gtest.h>

#include <filesystem>

namespace {

using namespace plexus::invoke;

TEST(SdkConsumer, LoadsThroughTheRegistryAndRuns) {
  const auto file = std::filesystem::path(PLEXUS_SDK_CONSUMER_BUILD) / "plugins" / "fixed-ip.so";
  PluginRegistry registry;
  const auto outcome = registry.load(file);
  ASSERT_EQ(outcome.status, LoadStatus::Loaded) << outcome.message;
  const auto plugin = registry.find("fixed-ip");
  ASSERT_NE(plugin, nullptr);
  EXPECT_EQ(plugin->version(), "2.0.0");
  EXPECT_EQ(plugin->spec_versions().size(), 7U);

  ExecInvoker exec;
  InProcessInvoker in_process(registry, exec);
  plexus::cni::Request request{"ADD", "c", "/var/run/netns/x", "eth0", "", "/bin",
                               R"({"cniVersion":"0.4.0","name":"n","type":"fixed-ip","address":"10.20.30.40/16"})", ""};
  auto reply = in_process.invoke("fixed-ip", request);
  EXPECT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_EQ(reply.stdout_data,
            "{\n    \"cniVersion\": \"0.4.0\",\n    \"ips\": [\n        {\n            \"version\": \"4\",\n"
            "            \"address\": \"10.20.30.40/16\"\n        }\n    ],\n    \"dns\": {}\n}");
  request.stdin_data = R"({"cniVersion":"0.4.0","name":"n","type":"fixed-ip","address":"nope"})";
  reply = in_process.invoke("fixed-ip", request);
  EXPECT_EQ(plexus::cni::reply_error(reply).msg(), "invalid \"address\": \"nope\"");
}

}  // namespace
