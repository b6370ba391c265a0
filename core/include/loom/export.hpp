#pragma once
// LOOM_API marks a class or function that libloom_core exports. Plugins are built with hidden
// visibility, so a class they use across the library boundary (an exception type, a plugin
// interface) must be marked: with LOOM_API and one out-of-line virtual member defined in the
// core (the key function), its vtable and typeinfo exist once, in libloom_core, and never in
// a plugin. An exception thrown by a plugin then stays valid wherever it is caught.
#define LOOM_API __attribute__((visibility("default")))
