#pragma once
// Boost.Test checks shared by loom's suites and available to plugin authors.
#include <boost/test/unit_test.hpp>

#include <initializer_list>
#include <string>

namespace loom::testing {

// Runs `f` and checks that it throws `Error` whose message contains every fragment
// (messages are the user interface, so suites check their words, not only their type).
template <class Error, class F>
void expect_error(F f, std::initializer_list<std::string> fragments) {
  try {
    f();
    BOOST_ERROR("expected an error, none was thrown");
  } catch (const Error& e) {
    std::string m = e.what();
    for (const auto& frag : fragments) BOOST_TEST(m.find(frag) != std::string::npos, m << " lacks " << frag);
  }
}

template <class Error, class F>
void expect_error(F f, const std::string& fragment) {
  expect_error<Error>(f, {fragment});
}

}  // namespace loom::testing
