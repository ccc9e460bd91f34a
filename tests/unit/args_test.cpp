#include <plexus/cni/args.hpp>
#include <plexus/cni/errors.hpp>

#include <gtest/gtest.h>

namespace {

namespace cni = plexus::cni;

TEST(CniArgs, ParsesPairsAndKeepsTheLastValue) {
  const auto args = cni::CniArgs::parse("IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.0.0.1/24;IP=10.0.0.2/24");
  EXPECT_EQ(args.get("K8S_POD_NAME"), "p");
  EXPECT_EQ(args.get("IP"), "10.0.0.2/24");
  EXPECT_EQ(args.get("ip"), std::nullopt) << "keys are case-sensitive";
  EXPECT_TRUE(args.ignore_unknown());
  EXPECT_EQ(args.to_string(), "IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.0.0.1/24;IP=10.0.0.2/24");
}

TEST(CniArgs, InvalidPair) {
  for (const auto* bad : {"FOO", "A=b=c", "A=1;;B=2"}) {
    try {
      (void)cni::CniArgs::parse(bad);
      FAIL() << bad;
    } catch (const cni::Error& e) {
      EXPECT_EQ(e.code(), 999);
      EXPECT_EQ(e.msg().rfind("ARGS: invalid pair \"", 0), 0U) << e.msg();
    }
  }
}

TEST(CniArgs, UnknownKeysFailUnlessIgnored) {
  const auto strict = cni::CniArgs::parse("MAC=c2:11:22:33:44:55;FOO=bar;X=y");
  try {
    strict.require_known({"MAC"});
    FAIL();
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.msg(), "ARGS: unknown args [\"FOO=bar\" \"X=y\"]");
  }
  for (const auto* ignore : {"IgnoreUnknown=1", "IgnoreUnknown=true", "IgnoreUnknown=TRUE"}) {
    const auto lax = cni::CniArgs::parse(std::string("FOO=bar;") + ignore);
    EXPECT_NO_THROW(lax.require_known({"MAC"})) << ignore;
  }
  EXPECT_FALSE(cni::CniArgs::parse("IgnoreUnknown=0").ignore_unknown());
}

TEST(CniArgs, EmptyIsNothing) { EXPECT_TRUE(cni::CniArgs::parse("").pairs().empty()); }

}  // namespace
