// plugins/sticky, in-process (.so) and exec'd (its binary) with the same bytes: it serves exactly
// the address plexus claimed (runtimeConfig.ips, else CNI_ARGS IP=) with the pool's gateway and
// routes, and refuses without a claim or with an address outside the pool. No reference plugin
// exists for it.
#include "ipam_harness.hpp"

#include <plexus/cni/errors.hpp>
#include <plexus/cni/result.hpp>

#include <fmt/format.h>
#include <gmock/gmock.h>

namespace plexus::ipam_test {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kConfig = R"({
  "cniVersion": "1.0.0", "name": "ip-192", "type": "macvlan", {runtime}
  "ipam": {"type": "sticky", "range": "192.168.111.10-192.168.111.20/24", "gateway": "192.168.111.1",
           "routes": [{"dst": "10.0.0.0/8", "gw": "192.168.111.1"}], "mac": {"prefix": "20:01:02:03:04", "start": 5}}
})";

class StickyPluginTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { trio_ = std::make_unique<PluginTrio>("sticky"); }
  static void TearDownTestSuite() { trio_.reset(); }

  static cni::Reply run_both(const cni::Request& request) {
    const auto in_process = trio_->in_process(request);
    const auto standalone = trio_->standalone(request);
    EXPECT_EQ(in_process.exit_code, standalone.exit_code);
    EXPECT_EQ(in_process.stdout_data, standalone.stdout_data);
    return in_process;
  }
  static std::string config(std::string_view runtime) { return fill(std::string(kConfig), {{"runtime", std::string(runtime)}}); }

  static inline std::unique_ptr<PluginTrio> trio_;
};

TEST_F(StickyPluginTest, ServesTheClaimFromRuntimeConfigWithGatewayAndRoutes) {
  const auto reply = run_both(make_request("ADD", config(R"("runtimeConfig": {"ips": ["192.168.111.12/24"]},)")));
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  const auto result = cni::parse_result(std::string_view(reply.stdout_data));
  ASSERT_EQ(result.ips.size(), 1U);
  EXPECT_EQ(result.ips[0].address.to_string(), "192.168.111.12/24");
  EXPECT_EQ(result.ips[0].gateway->to_string(), "192.168.111.1");
  ASSERT_EQ(result.routes.size(), 1U);
  EXPECT_EQ(result.routes[0].dst.to_string(), "10.0.0.0/8");
}

TEST_F(StickyPluginTest, ServesTheClaimFromCniArgsWithoutTheCapability) {
  const auto reply = run_both(make_request("ADD", config(""), "IgnoreUnknown=true;K8S_POD_NAME=web-0;IP=192.168.111.10/24;MAC=20:01:02:03:04:05"));
  ASSERT_EQ(reply.exit_code, 0) << reply.stdout_data;
  EXPECT_EQ(cni::parse_result(std::string_view(reply.stdout_data)).ips.at(0).address.to_string(), "192.168.111.10/24");
}

TEST_F(StickyPluginTest, RefusesWithoutAClaimOrWithAnAddressOutsideThePool) {
  const std::vector<std::pair<cni::Request, std::string>> cases = {
      {make_request("ADD", config("")), "no claimed address"},
      {make_request("ADD", config(R"("runtimeConfig": {"ips": ["192.168.111.30/24"]},)")), "\"192.168.111.30/24\" is not one of pool \"default\"'s addresses"},
      {make_request("ADD", config(R"("runtimeConfig": {"ips": ["192.168.111.10/16"]},)")), "is not one of pool"},
      {make_request("ADD", config(R"("runtimeConfig": {"ips": ["192.168.111.10/24", "192.168.111.11/24"]},)")), "exactly the one claimed address"},
      {make_request("ADD", config(""), "IP=192.168.111.10/24,192.168.111.11/24"), "must be the one claimed address"},
      {make_request("ADD", [] {
         auto text = config("");
         return text.replace(text.find("192.168.111.10-"), 15, "192.168.111.30-");
       }(), "IP=192.168.111.10/24"),
       "range end 192.168.111.20 is before its start 192.168.111.30"},
  };
  for (const auto& [request, message] : cases) {
    const auto reply = run_both(request);
    EXPECT_EQ(reply.exit_code, 1) << message;
    const auto error = cni::Error::from_json(reply.stdout_data);
    ASSERT_TRUE(error) << reply.stdout_data;
    EXPECT_EQ(error->code(), 7);
    EXPECT_THAT(error->msg(), HasSubstr(message));
  }
}

TEST_F(StickyPluginTest, DelNeedsNoClaimAndCheckWantsTheAddressInPrevResult) {
  EXPECT_EQ(run_both(make_request("DEL", config(""))).exit_code, 0);
  const auto with_prev = [](std::string_view address) {
    return config(fmt::format(R"("runtimeConfig": {{"ips": ["192.168.111.10/24"]}}, "prevResult": {{"cniVersion": "1.0.0",
      "ips": [{{"address": "{}"}}]}},)", address));
  };
  EXPECT_EQ(run_both(make_request("CHECK", with_prev("192.168.111.10/24"))).exit_code, 0);
  const auto missing = run_both(make_request("CHECK", with_prev("192.168.111.11/24")));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.stdout_data, HasSubstr("192.168.111.10/24 is missing from prevResult"));
}

}  // namespace
}  // namespace plexus::ipam_test
