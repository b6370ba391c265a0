#pragma once
// Contracts every plugin of a kind must honour, as plain functions independent of any test
// framework. Each returns the list of failures, one line each; an empty list is a pass. An
// out-of-tree plugin's own suite (Boost.Test, GoogleTest, ...) calls them and reports the
// lines:
//
//   loom::Registry registry;
//   registry.load_library(MY_PLUGIN_FILE);
//   loom::testing::Env env(registry);
//   env.add("tok", "my_tokenizer");
//   namespace c = loom::testing::contracts;
//   c::Failures f = c::tokenizer_round_trip(env.get<loom::Tokenizer>("tok"));
//   BOOST_TEST(f.empty(), c::join(f));
//
// No check throws for a plugin's misbehaviour: an exception escaping the plugin becomes a
// failure line quoting it. Header-only; needs loom::core (it numericalises text with
// loom/text.hpp and builds components with loom/testing/plugin_test.hpp). Not thread-safe:
// call from one thread.
//
// The checks live in three headers, all included here: contracts_base.hpp (Failures, test data
// builders), contracts_text.hpp (tokenizers, vocabulary builders, data loaders) and
// contracts_training.hpp (models, optimizers, metrics); contracts_decoding.hpp (incremental
// decoders) besides.
#include "loom/testing/contracts_base.hpp"
#include "loom/testing/contracts_text.hpp"
#include "loom/testing/contracts_training.hpp"
#include "loom/testing/contracts_decoding.hpp"
