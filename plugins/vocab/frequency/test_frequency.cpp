#define BOOST_TEST_MODULE frequency
#include <boost/test/unit_test.hpp>

#include "loom/registry.hpp"

BOOST_AUTO_TEST_CASE(loads_through_the_real_loader) {
  loom::Registry registry;
  registry.load_library(LOOM_TEST_PLUGIN_FILE);
  const loom::LoadedPlugin* p = registry.find("frequency");
  BOOST_REQUIRE(p != nullptr);
  BOOST_TEST(p->descriptor->abi_version == loom::kAbiVersion);
}
